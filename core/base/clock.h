// The one clock: monotonic time for durations and pauses, and wall time for
// what is stored or shown (microseconds since 1970-01-01 UTC). Everything that
// waits or stamps takes a Clock& so tests need not wait or can move time;
// Clock::real() is the process's clock, whose sleep_for wakes early on
// SIGINT/SIGTERM (core/base/interrupt.h) so a long pause never delays a stop.
#pragma once

#include <chrono>
#include <cstdint>

namespace webook {

class Clock {
public:
    virtual ~Clock() = default;
    virtual std::chrono::steady_clock::time_point now() = 0;
    virtual void sleep_for(std::chrono::microseconds d) = 0;
    // Wall time, microseconds since 1970-01-01 UTC.
    virtual std::int64_t wall_micros();
    static Clock& real();
};

// Microseconds since 1970-01-01 UTC from the system clock: Clock::real()'s
// wall_micros().
std::int64_t system_micros();

}  // namespace webook
