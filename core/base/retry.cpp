#include "core/base/retry.h"

#include <random>

#include "core/base/duration.h"
#include "core/base/log.h"

namespace webook {

std::chrono::microseconds RetryPolicy::delay_before(int attempt) const {
    if (attempt <= 1) return std::chrono::microseconds(0);
    auto delay = first_delay;
    for (int i = 2; i < attempt && delay < max_delay; ++i) delay *= 2;
    return std::min(delay, max_delay);
}

std::chrono::microseconds RetryPolicy::pause_before(int attempt) const {
    const auto delay = delay_before(attempt);
    if (jitter == Jitter::none || delay.count() < 2) return delay;
    thread_local std::minstd_rand random{std::random_device{}()};
    const auto half = delay.count() / 2;
    return std::chrono::microseconds(half + static_cast<std::int64_t>(random() % static_cast<std::uint64_t>(half + 1)));
}

namespace {

// "3.1s": an outage's length, for people.
std::string seconds_text(std::chrono::microseconds d) {
    return fmt::format("{:.1f}s", static_cast<double>(d.count()) / 1e6);
}

}  // namespace

RetryBudget::RetryBudget(std::chrono::microseconds budget, Clock& clock, std::string what)
    : m_budget(budget), m_clock(clock), m_what(std::move(what)) {}

void RetryBudget::on_failure(const Error& e) {
    using std::chrono::microseconds;
    const auto now = m_clock.now();
    // Outside an outage only a temporary error starts one; inside, failing to
    // connect continues it.
    const bool retryable = e.is_temporary() || (m_outage_start && e.code() == Code::connection);
    if (!retryable || m_budget.count() <= 0) throw e;
    if (!m_outage_start) {
        m_outage_start = now;
        m_failures_in_outage = 0;
    }
    const auto away = std::chrono::duration_cast<microseconds>(now - *m_outage_start);
    m_report.longest_outage = std::max(m_report.longest_outage, away);
    if (away >= m_budget)
        throw e.context(
            fmt::format("gave up after {} of retries (--retry-for {})", seconds_text(away), format_duration(m_budget)));
    // 0.25 s, doubling to 2 s: back within a couple of seconds of the server,
    // and never sleeping past the budget.
    const RetryPolicy pauses{
        .attempts = 1 << 30, .first_delay = std::chrono::milliseconds(250), .max_delay = std::chrono::seconds(2)};
    ++m_failures_in_outage;
    ++m_report.retries;
    const microseconds pause = std::min(pauses.delay_before(m_failures_in_outage + 1), m_budget - away);
    log::get("retry")->warn("{}{}{} (retry {}, away {}; next attempt in {} on a fresh connection)", m_what,
                            m_what.empty() ? "" : ": ", e.what(), m_report.retries, seconds_text(away),
                            seconds_text(pause));
    m_clock.sleep_for(pause);
}

void RetryBudget::progressed() {
    if (!m_outage_start) return;
    const auto away = std::chrono::duration_cast<std::chrono::microseconds>(m_clock.now() - *m_outage_start);
    m_report.longest_outage = std::max(m_report.longest_outage, away);
    m_outage_start.reset();
}

RetryReport RetryBudget::report() {
    RetryReport r = m_report;
    if (m_outage_start)
        r.longest_outage = std::max(
            r.longest_outage, std::chrono::duration_cast<std::chrono::microseconds>(m_clock.now() - *m_outage_start));
    return r;
}

}  // namespace webook
