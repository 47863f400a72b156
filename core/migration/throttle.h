// Keeps copy and validation polite to a live database.
//
//   rows per second  a token bucket: after each batch, sleep until the rows
//                    read so far fit the rate
//   max load         before each batch, ask the server how many sessions are
//                    running statements (MySQL Threads_running, PostgreSQL
//                    active backends) and pause while above the threshold
//
// Time comes from a Clock so tests need not wait. Pausing checks for
// SIGINT/SIGTERM. Not thread-safe: one per reading loop.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "core/base/clock.h"

namespace webook {

class Connection;
enum class ScanMode;  // core/migration/keyset.h

struct ThrottleOptions {
    double rows_per_second = 0;  // default: 0 = unlimited
    std::string max_load;        // "Threads_running=N" (or "running=N"); default: none
    std::chrono::milliseconds load_poll = std::chrono::seconds(1);  // pause granularity

    // Parses max_load; throws Error(Code::usage) when malformed.
    std::int64_t max_running() const;
    void validate() const;
};

// How a throttled reader may query (keyset.h): one streamed query is fine
// unless the throttle pauses for load, which it probes on the reader's own
// connection -- then one query per batch.
ScanMode scan_mode(const ThrottleOptions& options);

class Throttle {
public:
    Throttle(ThrottleOptions options, Clock& clock = Clock::real());

    // Before reading a batch from `conn`: waits while the server is loaded.
    void before_batch(Connection& conn);
    // After `rows` were processed: waits until the rate allows more.
    void after_rows(std::uint64_t rows);

    std::chrono::microseconds paused() const { return m_paused; }

private:
    // The server's running sessions: Dialect::running_sessions_sql(), or
    // its fallback from the first time the server refuses it (MySQL 8).
    std::int64_t running_sessions(Connection& conn);

    ThrottleOptions m_options;
    std::int64_t m_max_running;
    Clock& m_clock;
    std::chrono::steady_clock::time_point m_start;
    std::uint64_t m_rows = 0;
    std::chrono::microseconds m_paused{0};
    std::chrono::steady_clock::time_point m_last_probe{};
    bool m_use_fallback = false;
};

}  // namespace webook
