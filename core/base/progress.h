// A progress line on stderr for people at a terminal.
//
// Long loops bump a ProgressCounter (atomics, cheap, any thread). A
// ProgressLine redraws "label: N of ~T rows (P%), R rows/s, ETA E, S" four
// times a second while it lives -- only when stderr is a TTY; cron jobs and
// pipes see nothing of it -- and clears it when it ends. The total, where
// known, is an estimate (the servers' statistics, a topic's lag): past it, the
// line shows the rows alone.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace webook {

struct ProgressCounter {
    std::atomic<std::uint64_t> rows{0};
    std::atomic<std::uint64_t> findings{0};
    std::atomic<std::uint64_t> total{0};  // rows expected, estimated; 0: not known
};

// One redraw of the line (without the terminal's control characters):
// "copying t: 412000 of ~1000000 rows (41%), 180000 rows/s, ETA 3s, 2.3s";
// `unit` names what is counted ("rows", "events").
std::string progress_text(const std::string& label, std::uint64_t done, std::uint64_t total, double seconds,
                          std::uint64_t findings, const std::string& unit = "rows");

class ProgressLine {
public:
    ProgressLine(std::string label, const ProgressCounter& counter, std::string unit = "rows");
    ~ProgressLine();  // stops and clears the line
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

private:
    void run();

    std::string m_label;
    std::string m_unit;
    const ProgressCounter& m_counter;
    bool m_enabled;
    std::mutex m_mutex;
    std::condition_variable m_stop_cv;
    bool m_stop = false;
    std::thread m_thread;
};

}  // namespace webook
