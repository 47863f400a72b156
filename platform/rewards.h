// Rewards and their payments (README.md "reward and the payment jobs": rewards ->
// payments -> ledger; the reward homework "补完打赏流程").
//
//   create_reward     one transaction: a reward (status init) and its payment
//                     (status init, a fresh trade number; biz_trade_no
//                     "reward-<reward id>")
//   payment_callback  what the payment provider's callback does, in one
//                     transaction: the payment row locked, marked success or
//                     failed, and a payment event written to the outbox
//                     (outbox.h), so the event is published if and only if
//                     the payment changed. A callback for a payment already
//                     in that final state changes nothing and writes no
//                     second event (providers call back more than once); one
//                     contradicting the final state is refused.
//
// The rest of the flow: the outbox relay publishes the event
// (relay_outbox), and the payment consumer (payment_consumer.h) marks the
// reward paid or failed and books the ledger exactly once.
//
// Every statement is a PortableSql with client-made ids and times (platform/ids.h),
// so this works over a plain connection and through the double-write
// connection. Deadlocks and lock wait timeouts are retried.
//
// Not thread-safe (one Connection): one service per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "platform/ids.h"

namespace webook {

class Connection;

// `rewards.status`.
enum class RewardStatus : std::int16_t { init = 0, paid = 1, failed = 2 };
// `payments.status`.
enum class PaymentStatus : std::int16_t { init = 0, pending = 1, success = 2, failed = 3 };
// What a payment provider reports.
enum class PaymentOutcome { success, failed };

std::string_view reward_status_name(RewardStatus s);    // "init", "paid", "failed"
std::string_view payment_status_name(PaymentStatus s);  // "init", "pending", "success", "failed"
std::string_view outcome_name(PaymentOutcome o);        // "success", "failed"
// Throws Error(Code::usage) for anything but "success" and "failed".
PaymentOutcome parse_outcome(std::string_view text);

// The `biz` of reward bookings in the ledger (biz_id = the reward id).
inline constexpr std::string_view k_reward_biz = "reward";
// Where payment events go by default.
inline constexpr std::string_view k_payment_topic = "payment_events";

// "reward-<id>", and back. reward_id_of() throws Error(Code::data) for any
// other shape.
std::string biz_trade_no_for(std::int64_t reward_id);
std::int64_t reward_id_of(std::string_view biz_trade_no);

// The message on payment_events, keyed by biz_trade_no (one reward's events
// stay in order in one partition):
//   {"biz_trade_no":"reward-42","trade_no":"T0123abcd...","status":"success","amount":1000}
// trade_no may be absent (events written by older versions and the seeder).
struct PaymentEvent {
    std::string biz_trade_no;
    std::string trade_no;
    PaymentOutcome status = PaymentOutcome::success;
    std::int64_t amount = 0;  // cents

    std::string to_json() const;
    // Throws Error(Code::data) naming what is wrong.
    static PaymentEvent parse(std::string_view json);
};

struct RewardRequest {
    std::int64_t uid = 0;         // required, > 0: who pays
    std::int64_t target_uid = 0;  // required, > 0: who is rewarded (the author)
    std::string biz = "article";  // default: article; 1..32 bytes
    std::int64_t biz_id = 0;      // required, > 0
    std::int64_t amount = 0;      // required, > 0, cents

    // Throws Error(Code::usage) naming the first problem.
    void validate() const;
};

struct CreatedReward {
    std::int64_t reward_id = 0;
    std::int64_t payment_id = 0;
    std::string trade_no;
    std::string biz_trade_no;
    std::int64_t amount = 0;
};

struct CallbackResult {
    std::string trade_no;
    std::string biz_trade_no;
    PaymentStatus status = PaymentStatus::init;  // after the call
    bool changed = false;                        // false: it already was in this final state
    std::int64_t outbox_id = 0;                  // the event written; 0 when unchanged
};

struct RewardOptions {
    std::string topic{k_payment_topic};  // outbox topic of payment events; default: payment_events
};

class RewardService {
public:
    explicit RewardService(Connection& conn, RewardOptions options = {}, IdGenerator& ids = IdGenerator::global(),
                           Clock& clock = Clock::real());

    CreatedReward create_reward(const RewardRequest& request);

    // Error(Code::usage) for an unknown trade number or a status that
    // contradicts the payment's final state. `txn_id`: the provider's
    // transaction id, stored when given.
    CallbackResult payment_callback(std::string_view trade_no, PaymentOutcome outcome,
                                    std::optional<std::string> txn_id = std::nullopt);

private:
    Connection& m_conn;
    RewardOptions m_options;
    IdGenerator& m_ids;
    Clock& m_clock;
};

}  // namespace webook
