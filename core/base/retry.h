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
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
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

// Long work that resumes where it stopped -- validate, migrate copy -- rides
// out a server that goes away: after a temporary error (lost connection,
// server shutting down or restarting, deadlock, lock wait timeout) it drops
// its sessions, pauses, and goes on from the last key it finished on fresh
// connections, for as long as one outage lasts less than the budget
// (--retry-for). An outage is the failures between two pieces of progress;
// inside one, failing to connect at all (connection refused, server starting
// up: Code::connection) continues it, since the server was there before. A
// permanent error (a rejected statement, bad data, a config mistake) is never
// retried.
//
//   RetryBudget budget(options.retry_for, clock, "validating interactives");
//   run_resumable(budget, [&] { return merge_from(frontier); },   // calls budget.progressed()
//                 [&] { return reset_sessions({&source, &target}); });
struct RetryReport {
    std::uint64_t retries = 0;                    // attempts started again after a failure
    std::chrono::microseconds longest_outage{0};  // first failure -> next progress, the longest
};

class RetryBudget {
public:
    // budget 0: no retry (the first error ends the work).
    RetryBudget(std::chrono::microseconds budget, Clock& clock = Clock::real(), std::string what = {});

    // In the catch of a failed attempt: rethrows `e` when it is not worth
    // another attempt -- permanent, or this outage has lasted the budget (then
    // with "gave up after 5m of retries: " before its message); otherwise
    // logs it (one warning per retry, with the pause) and pauses: the caller
    // then starts again from its last finished key.
    void on_failure(const Error& e);
    // The work moved forward: an outage in progress, if any, is over.
    void progressed();
    // Retries so far and the longest outage (one still open counts to now).
    RetryReport report();

private:
    std::chrono::microseconds m_budget;
    Clock& m_clock;
    std::string m_what;
    RetryReport m_report;
    std::optional<std::chrono::steady_clock::time_point> m_outage_start;
    int m_failures_in_outage = 0;
};

// Runs attempt() until it returns, and returns what it returned. After an
// Error, `budget` decides (it rethrows, or pauses), then reset() must drop the
// sessions the attempt used (Connection::reset_session) so the next attempt
// opens fresh ones; reset() returning false -- a connection that cannot start
// over -- rethrows the error. The attempt must leave nothing open that
// outlives it (cursors), and continue from its own last finished key.
template <typename Attempt, typename Reset>
decltype(auto) run_resumable(RetryBudget& budget, Attempt&& attempt, Reset&& reset) {
    for (;;) {
        try {
            return attempt();
        } catch (const Error& e) {
            if (!reset()) throw;
            budget.on_failure(e);
        }
    }
}

}  // namespace webook
