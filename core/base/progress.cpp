#include "core/base/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include <fmt/format.h>

namespace webook {

namespace {

// "3s", "4m05s", "2h13m": what is left, to the second.
std::string eta_text(double seconds) {
    const auto s = static_cast<long long>(seconds + 0.5);
    if (s < 60) return fmt::format("{}s", s);
    if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
    return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

}  // namespace

std::string progress_text(const std::string& label, std::uint64_t done, std::uint64_t total, double seconds,
                          std::uint64_t findings, const std::string& unit) {
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0.0;
    std::string line;
    if (total > 0 && done <= total) {
        const double fraction = static_cast<double>(done) / static_cast<double>(total);
        line = fmt::format("{}: {} of ~{} {} ({:.0f}%), {:.0f} {}/s", label, done, total, unit,
                           std::min(fraction * 100, 99.0), rate, unit);
        if (rate > 0 && done > 0) line += ", ETA " + eta_text(static_cast<double>(total - done) / rate);
    } else {
        line = fmt::format("{}: {} {}, {:.0f} {}/s", label, done, unit, rate, unit);
    }
    line += fmt::format(", {:.0f}s", seconds);
    if (findings > 0) line += fmt::format(", {} inconsistencies", findings);
    return line;
}

ProgressLine::ProgressLine(std::string label, const ProgressCounter& counter, std::string unit)
    : m_label(std::move(label)), m_unit(std::move(unit)), m_counter(counter), m_enabled(::isatty(STDERR_FILENO) == 1) {
    if (m_enabled) m_thread = std::thread([this] { run(); });
}

ProgressLine::~ProgressLine() {
    if (!m_enabled) return;
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_stop_cv.notify_all();
    m_thread.join();
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
}

void ProgressLine::run() {
    const auto start = std::chrono::steady_clock::now();
    std::unique_lock lock(m_mutex);
    while (!m_stop_cv.wait_for(lock, std::chrono::milliseconds(250), [&] { return m_stop; })) {
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::string line = "\r\033[K" + progress_text(m_label, m_counter.rows.load(), m_counter.total.load(), s,
                                                            m_counter.findings.load(), m_unit);
        std::fputs(line.c_str(), stderr);
        std::fflush(stderr);
    }
}

}  // namespace webook
