#include "core/migration/throttle.h"

#include <charconv>
#include <thread>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/migration/keyset.h"

namespace webook {

std::int64_t ThrottleOptions::max_running() const {
    if (max_load.empty()) return 0;
    auto eq = max_load.find('=');
    std::string_view name = std::string_view(max_load).substr(0, eq);
    if (eq == std::string::npos || (name != "Threads_running" && name != "threads_running" && name != "running"))
        throw Error(Code::usage, fmt::format("--max-load '{}': expected Threads_running=N", max_load));
    std::int64_t n = 0;
    const char* b = max_load.data() + eq + 1;
    const char* e = max_load.data() + max_load.size();
    auto [p, ec] = std::from_chars(b, e, n);
    if (ec != std::errc() || p != e || n < 1)
        throw Error(Code::usage, fmt::format("--max-load '{}': N must be a positive integer", max_load));
    return n;
}

void ThrottleOptions::validate() const {
    if (rows_per_second < 0) throw Error(Code::usage, "--rows-per-second must not be negative");
    max_running();
}

Throttle::Throttle(ThrottleOptions options, Clock& clock)
    : m_options(std::move(options)), m_max_running(m_options.max_running()), m_clock(clock), m_start(clock.now()) {}

ScanMode scan_mode(const ThrottleOptions& options) {
    return options.max_load.empty() ? ScanMode::one_query_if_unindexed : ScanMode::batches;
}

std::int64_t Throttle::running_sessions(Connection& conn) {
    const Dialect& d = conn.dialect();
    if (!m_use_fallback) {
        try {
            auto row = conn.query_one(d.running_sessions_sql());
            return row ? (*row)[0].as_int() : 0;
        } catch (const Error& e) {
            if (e.code() != Code::server || d.running_sessions_fallback_sql().empty()) throw;
            log::get("throttle")->info("{}: {}; reading the load from the fallback instead", conn.describe(), e.what());
            m_use_fallback = true;
        }
    }
    auto row = conn.query_one(d.running_sessions_fallback_sql());
    return row ? (*row)[0].as_int() : 0;
}

void Throttle::before_batch(Connection& conn) {
    if (m_max_running <= 0) return;
    bool logged = false;
    while (true) {
        check_interrupted();
        const std::int64_t running = running_sessions(conn);
        if (running <= m_max_running) {
            if (logged) log::get("throttle")->info("load on {} is back to {}: resuming", conn.describe(), running);
            return;
        }
        if (!logged)
            log::get("throttle")
                ->info("{} has {} running sessions (limit {}): pausing", conn.describe(), running, m_max_running);
        logged = true;
        auto nap = std::chrono::duration_cast<std::chrono::microseconds>(m_options.load_poll);
        m_clock.sleep_for(nap);
        m_paused += nap;
    }
}

void Throttle::after_rows(std::uint64_t rows) {
    m_rows += rows;
    if (m_options.rows_per_second <= 0) return;
    auto due = m_start + std::chrono::microseconds(
                             static_cast<std::int64_t>(static_cast<double>(m_rows) / m_options.rows_per_second * 1e6));
    auto now = m_clock.now();
    if (due > now) {
        auto nap = std::chrono::duration_cast<std::chrono::microseconds>(due - now);
        m_clock.sleep_for(nap);
        m_paused += nap;
        check_interrupted();
    }
}

}  // namespace webook
