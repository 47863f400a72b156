// How the platform's operations (article.cpp, interactive.cpp) run a
// transaction: retried when the database gave up on it for a reason that
// passes (deadlock, lock wait timeout -- Error(Code::server, temporary)).
// Such a failure rolled the work back, so running it again is safe. Lost
// connections (Code::connection) are not retried here: whether the commit
// landed is unknown, and the caller decides.
//
// Internal to core/; not part of the platform's public headers.
#pragma once

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>
#include <type_traits>

#include "core/db.h"
#include "core/error.h"
#include "core/log.h"

namespace webook::platform_detail {

inline constexpr int k_transaction_attempts = 6;

inline bool worth_retrying(const Error& e, int attempt) {
    if (e.code() != Code::server || !e.is_temporary() || attempt >= k_transaction_attempts) return false;
    log::get("platform")->debug("attempt {} failed, retrying: {}", attempt, e.what());
    return true;
}

// A short, jittered pause before attempt `attempt` (2, 3, ...): 2, 4, 8 ms ...
// up to 64 ms, so two transactions that deadlocked do not collide again.
inline void back_off(int attempt) {
    thread_local std::minstd_rand random{std::random_device{}()};
    const int ceiling_ms = 1 << std::min(attempt, 6);
    std::this_thread::sleep_for(std::chrono::microseconds(500 + random() % (ceiling_ms * 1000)));
}

// Runs fn() between BEGIN and COMMIT; rolls back when it throws. Retries the
// whole transaction on temporary server errors.
template <typename Fn>
decltype(auto) in_transaction(Connection& conn, Fn&& fn) {
    for (int attempt = 1;; ++attempt) {
        try {
            Transaction tx(conn);
            if constexpr (std::is_void_v<decltype(fn())>) {
                fn();
                tx.commit();
                return;
            } else {
                auto result = fn();
                tx.commit();
                return result;
            }
        } catch (const Error& e) {
            if (!worth_retrying(e, attempt)) throw;
        }
        back_off(attempt + 1);
    }
}

// One statement outside a transaction, retried the same way.
template <typename Fn>
decltype(auto) with_retries(Fn&& fn) {
    for (int attempt = 1;; ++attempt) {
        try {
            return fn();
        } catch (const Error& e) {
            if (!worth_retrying(e, attempt)) throw;
        }
        back_off(attempt + 1);
    }
}

}  // namespace webook::platform_detail
