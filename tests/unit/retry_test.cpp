#include "core/base/retry.h"

#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "tests/support/manual_clock.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using std::chrono::microseconds;
using testing::ManualClock;

Error deadlock() {
    return Error(Code::server, "deadlock found", Temporary::yes);
}
Error lost_connection() {
    return Error(Code::connection, "server has gone away", Temporary::yes);
}

struct Retried {
    int attempt;
    microseconds pause;
};

TEST(RetryWithBackoff, RetriesTemporaryErrorsWithADoublingPauseUpToTheCap) {
    ManualClock clock;
    RetryPolicy policy{.attempts = 6, .first_delay = 100ms, .max_delay = 350ms};
    std::vector<Retried> retried;
    const int result = retry_with_backoff(
        policy, clock,
        [&](int attempt) {
            if (attempt < 5) throw deadlock();
            return attempt * 10;
        },
        [&](const Error&, int attempt, microseconds pause) {
            retried.push_back({attempt, pause});
        });
    EXPECT_EQ(result, 50);
    ASSERT_EQ(retried.size(), 4u);
    EXPECT_EQ(retried[0].attempt, 1);
    EXPECT_EQ(clock.sleeps(), (std::vector<microseconds>{100ms, 200ms, 350ms, 350ms}));
}

TEST(RetryWithBackoff, TheLastAttemptsErrorIsRethrownAsItIs) {
    ManualClock clock;
    RetryPolicy policy{.attempts = 3, .first_delay = 1ms};
    int calls = 0;
    try {
        retry_with_backoff(
            policy, clock, [&](int) -> int { ++calls, throw deadlock(); }, [](const Error&, int, microseconds) {});
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::server);
        EXPECT_TRUE(e.is_temporary());
    }
    EXPECT_EQ(calls, 3);
    EXPECT_EQ(clock.sleeps().size(), 2u) << "no pause after the last attempt";
}

TEST(RetryWithBackoff, PermanentErrorsAreNotRetried) {
    ManualClock clock;
    int calls = 0;
    EXPECT_THROW(retry_with_backoff(
                     RetryPolicy{.attempts = 5}, clock,
                     [&](int) {
                         ++calls;
                         throw Error(Code::config, "no such table");
                     },
                     [](const Error&, int, microseconds) {}),
                 Error);
    EXPECT_EQ(calls, 1);
    EXPECT_TRUE(clock.sleeps().empty());
}

TEST(RetryWithBackoff, ServerOnlyPoliciesLeaveALostConnectionToTheCaller) {
    ManualClock clock;
    const RetryPolicy policy{.attempts = 5, .retry_on = RetryOn::temporary_server};
    EXPECT_TRUE(policy.retries(deadlock()));
    EXPECT_FALSE(policy.retries(lost_connection()));
    EXPECT_TRUE(RetryPolicy{}.retries(lost_connection()));
    int calls = 0;
    EXPECT_THROW(retry_with_backoff(
                     policy, clock,
                     [&](int) {
                         ++calls;
                         throw lost_connection();
                     },
                     [](const Error&, int, microseconds) {}),
                 Error);
    EXPECT_EQ(calls, 1);
}

TEST(RetryWithBackoff, VoidOperationsWork) {
    ManualClock clock;
    int calls = 0;
    retry_with_backoff(
        RetryPolicy{.attempts = 2}, clock,
        [&](int attempt) {
            ++calls;
            if (attempt == 1) throw deadlock();
        },
        [](const Error&, int, microseconds) {});
    EXPECT_EQ(calls, 2);
}

TEST(RetryPolicy, DelayScheduleIsWhatTheOutboxStores) {
    const RetryPolicy policy{.attempts = 10, .first_delay = 1s, .max_delay = 10min};
    EXPECT_EQ(policy.delay_before(1), 0s);
    EXPECT_EQ(policy.delay_before(2), 1s);
    EXPECT_EQ(policy.delay_before(3), 2s);
    EXPECT_EQ(policy.delay_before(11), 512s);
    EXPECT_EQ(policy.delay_before(12), 10min);
    EXPECT_EQ(policy.delay_before(1000), 10min);
}

TEST(RetryPolicy, EqualJitterStaysBetweenHalfAndAllOfTheDelay) {
    const RetryPolicy policy{.attempts = 10, .first_delay = 8ms, .jitter = Jitter::equal};
    bool varied = false;
    for (int i = 0; i < 200; ++i) {
        const auto p = policy.pause_before(3);  // 16 ms before jitter
        EXPECT_GE(p, 8ms);
        EXPECT_LE(p, 16ms);
        if (p != policy.pause_before(3)) varied = true;
    }
    EXPECT_TRUE(varied);
}

// ---- RetryBudget: long work that resumes where it stopped

Error refused() {
    return Error(Code::connection, "connection refused");
}

TEST(RetryBudget, PausesAfterATemporaryErrorAndCountsTheRetry) {
    ManualClock clock;
    RetryBudget budget(5min, clock);
    budget.on_failure(lost_connection());
    budget.on_failure(lost_connection());
    EXPECT_EQ(budget.report().retries, 2u);
    ASSERT_EQ(clock.sleeps().size(), 2u);
    EXPECT_EQ(clock.sleeps()[0], 250ms);
    EXPECT_EQ(clock.sleeps()[1], 500ms);
}

TEST(RetryBudget, NeverRetriesAPermanentError) {
    ManualClock clock;
    RetryBudget budget(5min, clock);
    EXPECT_THROW(budget.on_failure(Error(Code::server, "syntax error")), Error);
    EXPECT_THROW(budget.on_failure(Error(Code::data, "bad value")), Error);
    EXPECT_THROW(budget.on_failure(refused()), Error) << "a server not there at all is no outage";
    EXPECT_TRUE(clock.sleeps().empty());
    EXPECT_EQ(budget.report().retries, 0u);
}

TEST(RetryBudget, InsideAnOutageAFailureToConnectContinuesIt) {
    ManualClock clock;
    RetryBudget budget(5min, clock);
    budget.on_failure(lost_connection());
    budget.on_failure(refused());  // the server is restarting
    budget.on_failure(Error(Code::connection, "the database system is starting up"));
    EXPECT_EQ(budget.report().retries, 3u);
    budget.progressed();
    EXPECT_THROW(budget.on_failure(refused()), Error) << "the outage ended with the progress";
}

TEST(RetryBudget, GivesUpWhenOneOutageOutlastsTheBudgetAndSaysSo) {
    ManualClock clock;
    RetryBudget budget(3s, clock, "validating t");
    try {
        for (int i = 0; i < 100; ++i) budget.on_failure(lost_connection());
        FAIL() << "never gave up";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::connection);
        EXPECT_NE(std::string(e.what()).find("gave up after 3.0s of retries (--retry-for 3s)"), std::string::npos)
            << e.what();
    }
    EXPECT_LE(clock.total_sleep(), 3s) << "never sleeps past the budget";
    EXPECT_EQ(budget.report().longest_outage, 3s);
}

TEST(RetryBudget, EachOutageGetsTheWholeBudgetAndTheLongestIsReported) {
    ManualClock clock;
    RetryBudget budget(2s, clock);
    for (int outage = 0; outage < 3; ++outage) {
        budget.on_failure(lost_connection());  // 250 ms
        budget.on_failure(lost_connection());  // 500 ms
        budget.on_failure(lost_connection());  // 1 s
        budget.progressed();
    }
    EXPECT_EQ(budget.report().retries, 9u);
    EXPECT_EQ(budget.report().longest_outage, 1750ms);
}

TEST(RetryBudget, AZeroBudgetRetriesNothing) {
    ManualClock clock;
    RetryBudget budget(0s, clock);
    EXPECT_THROW(budget.on_failure(lost_connection()), Error);
}

TEST(RunResumable, GoesOnAfterEachFailureOnFreshSessionsUntilItSucceeds) {
    ManualClock clock;
    RetryBudget budget(1min, clock);
    int attempts = 0, resets = 0;
    const int result = run_resumable(
        budget,
        [&] {
            if (++attempts < 3) throw lost_connection();
            return 42;
        },
        [&] {
            ++resets;
            return true;
        });
    EXPECT_EQ(result, 42);
    EXPECT_EQ(attempts, 3);
    EXPECT_EQ(resets, 2);
}

TEST(RunResumable, AConnectionThatCannotStartOverEndsItWithTheError) {
    ManualClock clock;
    RetryBudget budget(1min, clock);
    int attempts = 0;
    EXPECT_THROW(run_resumable(
                     budget,
                     [&] {
                         ++attempts;
                         throw lost_connection();
                     },
                     [] { return false; }),
                 Error);
    EXPECT_EQ(attempts, 1);
    EXPECT_TRUE(clock.sleeps().empty());
}

}  // namespace
}  // namespace webook
