// A Clock (core/base/clock.h) that moves only when the test moves it or
// someone sleeps on it: sleeping returns at once and advances both the
// monotonic and the wall time, and every sleep is recorded.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "core/base/clock.h"

namespace webook::testing {

class ManualClock final : public Clock {
public:
    explicit ManualClock(std::int64_t wall_micros = 1'780'000'000'000'000) : m_wall(wall_micros) {}

    std::chrono::steady_clock::time_point now() override { return m_now; }
    void sleep_for(std::chrono::microseconds d) override {
        m_sleeps.push_back(d);
        advance(d);
    }
    std::int64_t wall_micros() override { return m_wall; }

    void advance(std::chrono::microseconds d) {
        m_now += d;
        m_wall += d.count();
    }
    void set_wall(std::int64_t micros) { m_wall = micros; }

    const std::vector<std::chrono::microseconds>& sleeps() const { return m_sleeps; }
    std::chrono::microseconds total_sleep() const {
        std::chrono::microseconds total{0};
        for (auto d : m_sleeps) total += d;
        return total;
    }

private:
    std::chrono::steady_clock::time_point m_now{std::chrono::hours(1000)};
    std::int64_t m_wall;
    std::vector<std::chrono::microseconds> m_sleeps;
};

}  // namespace webook::testing
