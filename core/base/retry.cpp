#include "core/base/retry.h"

#include <random>

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

}  // namespace webook
