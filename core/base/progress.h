// A progress line on stderr for people at a terminal.
//
// Long loops bump a ProgressCounter (atomics, cheap, any thread). A
// ProgressLine redraws "label: N rows, R rows/s" four times a second while it
// lives -- only when stderr is a TTY; cron jobs and pipes see nothing of it.
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
};

class ProgressLine {
public:
    ProgressLine(std::string label, const ProgressCounter& counter);
    ~ProgressLine();  // stops and clears the line
    ProgressLine(const ProgressLine&) = delete;
    ProgressLine& operator=(const ProgressLine&) = delete;

private:
    void run();

    std::string m_label;
    const ProgressCounter& m_counter;
    bool m_enabled;
    std::mutex m_mutex;
    std::condition_variable m_stop_cv;
    bool m_stop = false;
    std::thread m_thread;
};

}  // namespace webook
