#include "core/base/progress.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <fmt/format.h>

namespace webook {

ProgressLine::ProgressLine(std::string label, const ProgressCounter& counter)
    : m_label(std::move(label)), m_counter(counter), m_enabled(::isatty(STDERR_FILENO) == 1) {
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
        const auto rows = m_counter.rows.load();
        const auto findings = m_counter.findings.load();
        std::string line =
            fmt::format("\r\033[K{}: {} rows, {:.0f} rows/s, {:.0f}s", m_label, rows, s > 0 ? rows / s : 0.0, s);
        if (findings > 0) line += fmt::format(", {} inconsistencies", findings);
        std::fputs(line.c_str(), stderr);
        std::fflush(stderr);
    }
}

}  // namespace webook
