// How the platform's operations (article.cpp, interactive.cpp) run a
// transaction: retried when the database gave up on it for a reason that
// passes (deadlock, lock wait timeout -- Error(Code::server, temporary)).
// Such a failure rolled the work back, so running it again is safe. Lost
// connections (Code::connection) are not retried here: whether the commit
// landed is unknown, and the caller decides.
//
// Internal to platform/; not part of its public headers.
#pragma once

#include <chrono>
#include <type_traits>

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/base/retry.h"
#include "core/db/db.h"

namespace webook::platform_detail {

// Six attempts, pausing 1-2, 2-4, 4-8, 8-16 and 16-32 ms (jittered so two
// transactions that deadlocked do not collide again).
inline constexpr RetryPolicy k_transaction_retries{.attempts = 6,
                                                   .first_delay = std::chrono::milliseconds(2),
                                                   .max_delay = std::chrono::milliseconds(64),
                                                   .jitter = Jitter::equal,
                                                   .retry_on = RetryOn::temporary_server};

inline void log_retry(const Error& e, int attempt, std::chrono::microseconds) {
    log::get("platform")->debug("attempt {} failed, retrying: {}", attempt, e.what());
}

// Runs fn() between BEGIN and COMMIT; rolls back when it throws. Retries the
// whole transaction on temporary server errors.
template <typename Fn>
decltype(auto) in_transaction(Connection& conn, Fn&& fn) {
    return retry_with_backoff(
        k_transaction_retries, Clock::real(),
        [&](int) -> decltype(auto) {
            Transaction tx(conn);
            if constexpr (std::is_void_v<decltype(fn())>) {
                fn();
                tx.commit();
            } else {
                auto result = fn();
                tx.commit();
                return result;
            }
        },
        log_retry);
}

// One statement outside a transaction, retried the same way.
template <typename Fn>
decltype(auto) with_retries(Fn&& fn) {
    return retry_with_backoff(
        k_transaction_retries, Clock::real(), [&](int) -> decltype(auto) { return fn(); }, log_retry);
}

}  // namespace webook::platform_detail
