// The one retry loop: runs an operation again after a temporary error, with
// a doubling pause between attempts, for every place that retries -- the
// fixer's repair transactions, the payment consumer's settlements, the
// platform's transactions (deadlocks, lock wait timeouts) -- and the delay
// schedule the outbox relay stores for its rows.
//
//   RetryPolicy policy{.attempts = 5, .first_delay = 100ms, .max_delay = 5s};
//   auto r = retry_with_backoff(policy, clock, [&](int attempt) { return settle(); },
//                               [&](const Error& e, int attempt, std::chrono::microseconds delay) {
//                                   log the retry; reset the connection; });
//
// An error the policy does not retry, or the last attempt's error, is
// rethrown as it is. The pause is the clock's (Clock::real() wakes on
// SIGINT/SIGTERM); the operation itself should check for interruption.
#pragma once

#include <chrono>
#include <functional>
#include <type_traits>
#include <utility>

#include "core/base/clock.h"
#include "core/base/error.h"

namespace webook {

enum class Jitter {
    none,   // exactly the schedule (tests, the outbox's stored schedule)
    equal,  // half the delay plus a random part of the other half, so two
            // transactions that deadlocked do not collide again
};

// Which errors are worth another attempt.
enum class RetryOn {
    temporary,         // any temporary error: lost connection, deadlock, lock wait, server restarting
    temporary_server,  // only the server's own (Code::server): a lost connection's commit is unknown
};

struct RetryPolicy {
    int attempts = 1;                                             // in all, >= 1 (1: no retry)
    std::chrono::microseconds first_delay{0};                     // before the second attempt; doubled each time after
    std::chrono::microseconds max_delay = std::chrono::hours(1);  // the doubling stops here
    Jitter jitter = Jitter::none;
    RetryOn retry_on = RetryOn::temporary;

    bool retries(const Error& e) const {
        if (!e.is_temporary()) return false;
        return retry_on == RetryOn::temporary || e.code() == Code::server;
    }
    // The pause before attempt `attempt` (2, 3, ...): first_delay * 2^(attempt-2),
    // at most max_delay, before jitter. 0 for attempt 1.
    std::chrono::microseconds delay_before(int attempt) const;
    // delay_before() with the policy's jitter applied.
    std::chrono::microseconds pause_before(int attempt) const;
};

// Calls op(attempt) for attempt 1, 2, ... until it returns, and returns what
// it returned. When it throws an Error the policy retries and attempts are
// left, calls on_retry(error, attempt that failed, pause) and then pauses on
// `clock`. Anything else propagates at once.
template <typename Op, typename OnRetry>
decltype(auto) retry_with_backoff(const RetryPolicy& policy, Clock& clock, Op&& op, OnRetry&& on_retry) {
    for (int attempt = 1;; ++attempt) {
        std::chrono::microseconds pause{0};
        try {
            return op(attempt);
        } catch (const Error& e) {
            if (attempt >= policy.attempts || !policy.retries(e)) throw;
            pause = policy.pause_before(attempt + 1);
            on_retry(e, attempt, pause);
        }
        clock.sleep_for(pause);
    }
}

}  // namespace webook
