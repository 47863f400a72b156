#include "core/base/clock.h"

#include <algorithm>
#include <thread>

#include "core/base/interrupt.h"

namespace webook {
namespace {

class RealClock final : public Clock {
public:
    std::chrono::steady_clock::time_point now() override { return std::chrono::steady_clock::now(); }
    void sleep_for(std::chrono::microseconds d) override {
        // Short naps so a signal is noticed promptly.
        const auto end = std::chrono::steady_clock::now() + d;
        while (!interrupted()) {
            auto left = end - std::chrono::steady_clock::now();
            if (left <= std::chrono::steady_clock::duration::zero()) break;
            std::this_thread::sleep_for(
                std::min<std::chrono::steady_clock::duration>(left, std::chrono::milliseconds(100)));
        }
    }
};

}  // namespace

std::int64_t Clock::wall_micros() {
    return system_micros();
}

Clock& Clock::real() {
    static RealClock clock;
    return clock;
}

std::int64_t system_micros() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace webook
