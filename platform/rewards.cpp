#include "platform/rewards.h"

#include <charconv>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/messaging/kafka.h"
#include "platform/outbox.h"
#include "platform/platform_tx.h"

namespace webook {
namespace {

using platform_detail::in_transaction;

constexpr const char* k_rewards = "rewards";
constexpr const char* k_payments = "payments";
constexpr std::string_view k_biz_trade_prefix = "reward-";
constexpr std::size_t k_max_biz_bytes = 32;  // VARCHAR(32)

Value i64(std::int64_t v) {
    return Value::integer(v);
}
Value at(std::int64_t micros) {
    return Value::datetime_micros(micros);
}

PortableSql insert_into(const char* table, std::vector<std::string> columns, std::string what) {
    return {[table, columns = std::move(columns)](const Dialect& d) {
                return fmt::format("INSERT INTO {} ({}) VALUES {}", d.quote(table), d.quote_list(columns),
                                   d.placeholders(1, static_cast<int>(columns.size())));
            },
            std::move(what)};
}

PaymentStatus final_status(PaymentOutcome o) {
    return o == PaymentOutcome::success ? PaymentStatus::success : PaymentStatus::failed;
}

bool is_final(PaymentStatus s) {
    return s == PaymentStatus::success || s == PaymentStatus::failed;
}

PaymentStatus payment_status(std::int64_t v) {
    if (v < 0 || v > 3) throw Error(Code::data, fmt::format("payment status {} is not 0..3", v));
    return static_cast<PaymentStatus>(v);
}

}  // namespace

std::string_view reward_status_name(RewardStatus s) {
    switch (s) {
    case RewardStatus::init: return "init";
    case RewardStatus::paid: return "paid";
    case RewardStatus::failed: return "failed";
    }
    return "unknown";
}

std::string_view payment_status_name(PaymentStatus s) {
    switch (s) {
    case PaymentStatus::init: return "init";
    case PaymentStatus::pending: return "pending";
    case PaymentStatus::success: return "success";
    case PaymentStatus::failed: return "failed";
    }
    return "unknown";
}

std::string_view outcome_name(PaymentOutcome o) {
    return o == PaymentOutcome::success ? "success" : "failed";
}

PaymentOutcome parse_outcome(std::string_view text) {
    if (text == "success") return PaymentOutcome::success;
    if (text == "failed") return PaymentOutcome::failed;
    throw Error(Code::usage, fmt::format("payment status must be success or failed, not '{}'", text));
}

std::string biz_trade_no_for(std::int64_t reward_id) {
    return fmt::format("{}{}", k_biz_trade_prefix, reward_id);
}

std::int64_t reward_id_of(std::string_view biz_trade_no) {
    std::int64_t id = 0;
    if (biz_trade_no.starts_with(k_biz_trade_prefix)) {
        std::string_view digits = biz_trade_no.substr(k_biz_trade_prefix.size());
        auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
        // Only the form biz_trade_no_for() writes: no sign, no leading zero.
        if (ec == std::errc() && end == digits.data() + digits.size() && !digits.empty() && digits[0] != '-' &&
            digits[0] != '0' && id > 0)
            return id;
    }
    throw Error(Code::data, fmt::format("biz_trade_no '{}' is not reward-<id>", biz_trade_no.substr(0, 80)));
}

std::string PaymentEvent::to_json() const {
    nlohmann::ordered_json j;
    j["biz_trade_no"] = biz_trade_no;
    if (!trade_no.empty()) j["trade_no"] = trade_no;
    j["status"] = outcome_name(status);
    j["amount"] = amount;
    return j.dump();
}

PaymentEvent PaymentEvent::parse(std::string_view json) {
    nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
    if (j.is_discarded()) throw Error(Code::data, "payment event is not JSON");
    if (!j.is_object()) throw Error(Code::data, "payment event is not a JSON object");
    PaymentEvent e;
    auto text = [&](const char* name, bool required) -> std::string {
        auto it = j.find(name);
        if (it == j.end() || it->is_null()) {
            if (required) throw Error(Code::data, fmt::format("payment event lacks \"{}\"", name));
            return {};
        }
        if (!it->is_string()) throw Error(Code::data, fmt::format("payment event \"{}\" is not a string", name));
        return it->get<std::string>();
    };
    e.biz_trade_no = text("biz_trade_no", true);
    reward_id_of(e.biz_trade_no);  // throws when malformed
    e.trade_no = text("trade_no", false);
    const std::string status = text("status", true);
    if (status == "success")
        e.status = PaymentOutcome::success;
    else if (status == "failed")
        e.status = PaymentOutcome::failed;
    else
        throw Error(Code::data,
                    fmt::format("payment event status '{}' is not success or failed", status.substr(0, 40)));
    auto amount = j.find("amount");
    if (amount == j.end()) throw Error(Code::data, "payment event lacks \"amount\"");
    if (!amount->is_number_integer()) throw Error(Code::data, "payment event \"amount\" is not an integer");
    e.amount = amount->get<std::int64_t>();
    if (e.amount <= 0) throw Error(Code::data, fmt::format("payment event amount {} is not positive", e.amount));
    return e;
}

void RewardRequest::validate() const {
    if (uid <= 0) throw Error(Code::usage, fmt::format("--uid must be positive, not {}", uid));
    if (target_uid <= 0) throw Error(Code::usage, fmt::format("--target-uid must be positive, not {}", target_uid));
    if (biz.empty() || biz.size() > k_max_biz_bytes)
        throw Error(Code::usage, fmt::format("--biz must be 1..{} bytes, not '{}'", k_max_biz_bytes, biz));
    if (biz_id <= 0) throw Error(Code::usage, fmt::format("--biz-id must be positive, not {}", biz_id));
    if (amount <= 0)
        throw Error(Code::usage, fmt::format("--amount must be a positive number of cents, not {}", amount));
}

RewardService::RewardService(Connection& conn, RewardOptions options, IdGenerator& ids, Clock& clock)
    : m_conn(conn), m_options(std::move(options)), m_ids(ids), m_clock(clock) {
    validate_topic_name(m_options.topic);
}

CreatedReward RewardService::create_reward(const RewardRequest& request) {
    request.validate();
    CreatedReward r;
    r.reward_id = m_ids.next();
    r.payment_id = m_ids.next();
    // Snowflake ids are unique per generator and time-ordered: so are trade numbers.
    r.trade_no = fmt::format("T{:016x}", static_cast<std::uint64_t>(m_ids.next()));
    r.biz_trade_no = biz_trade_no_for(r.reward_id);
    r.amount = request.amount;
    const std::int64_t now = m_clock.wall_micros();
    auto reward =
        insert_into(k_rewards, {"id", "biz", "biz_id", "uid", "target_uid", "amount", "status", "ctime", "utime"},
                    fmt::format("{} id={}", k_rewards, r.reward_id));
    auto payment = insert_into(k_payments,
                               {"id", "trade_no", "biz_trade_no", "biz", "biz_id", "amount", "currency", "description",
                                "status", "txn_id", "ctime", "utime"},
                               fmt::format("{} trade_no={}", k_payments, r.trade_no));
    const std::vector<Value> reward_row{i64(r.reward_id),
                                        Value::text(request.biz),
                                        i64(request.biz_id),
                                        i64(request.uid),
                                        i64(request.target_uid),
                                        i64(request.amount),
                                        i64(static_cast<std::int64_t>(RewardStatus::init)),
                                        at(now),
                                        at(now)};
    const std::vector<Value> payment_row{i64(r.payment_id),
                                         Value::text(r.trade_no),
                                         Value::text(r.biz_trade_no),
                                         Value::text("reward"),  // (biz, biz_id) of the payment: the reward it pays
                                         i64(r.reward_id),
                                         i64(request.amount),
                                         Value::text("CNY"),
                                         Value::text(fmt::format("reward for {} {}", request.biz, request.biz_id)),
                                         i64(static_cast<std::int64_t>(PaymentStatus::init)),
                                         Value(),
                                         at(now),
                                         at(now)};
    with_context(fmt::format("creating a reward of {} cents for {} {}", request.amount, request.biz, request.biz_id),
                 [&] {
                     in_transaction(m_conn, [&] {
                         m_conn.execute(reward, reward_row);
                         m_conn.execute(payment, payment_row);
                     });
                 });
    log::get("reward")->info("reward {} of {} cents from user {} to user {} for {} {}: payment {}", r.reward_id,
                             r.amount, request.uid, request.target_uid, request.biz, request.biz_id, r.trade_no);
    return r;
}

CallbackResult RewardService::payment_callback(std::string_view trade_no, PaymentOutcome outcome,
                                               std::optional<std::string> txn_id) {
    if (trade_no.empty()) throw Error(Code::usage, "--trade-no must not be empty");
    const std::string trade(trade_no);
    const PaymentStatus wanted = final_status(outcome);
    PortableSql lock{[](const Dialect& d) {
                         return fmt::format("SELECT {}, {}, {}, {} FROM {} WHERE {} = {}{}", d.quote("id"),
                                            d.quote("biz_trade_no"), d.quote("amount"), d.quote("status"),
                                            d.quote(k_payments), d.quote("trade_no"), d.placeholder(1), d.for_update());
                     },
                     fmt::format("{} trade_no={}", k_payments, trade)};
    PortableSql mark{[](const Dialect& d) {
                         return fmt::format(
                             "UPDATE {0} SET {1} = {2}, {3} = COALESCE({4}, {3}), {5} = {6} WHERE {7} = {8}",
                             d.quote(k_payments), d.quote("status"), d.placeholder(1), d.quote("txn_id"),
                             d.placeholder(2), d.quote("utime"), d.placeholder(3), d.quote("id"), d.placeholder(4));
                     },
                     fmt::format("{} trade_no={}", k_payments, trade)};
    const std::int64_t now = m_clock.wall_micros();
    CallbackResult result = with_context(fmt::format("payment callback for {}", trade), [&] {
        return in_transaction(m_conn, [&] {
            auto row = m_conn.query_one(lock, std::vector<Value>{Value::text(trade)});
            if (!row) throw Error(Code::usage, fmt::format("unknown trade number '{}'", trade));
            CallbackResult r;
            r.trade_no = trade;
            r.biz_trade_no = std::string((*row)[1].as_string());
            const PaymentStatus current = payment_status((*row)[3].as_int());
            if (is_final(current)) {
                if (current != wanted)
                    throw Error(Code::usage, fmt::format("payment {} is already {}: a {} callback contradicts it",
                                                         trade, payment_status_name(current), outcome_name(outcome)));
                r.status = current;  // the provider called back again: nothing to do
                return r;
            }
            m_conn.execute(
                mark, std::vector<Value>{i64(static_cast<std::int64_t>(wanted)),
                                         txn_id ? Value::text(*txn_id) : Value(), at(now), i64((*row)[0].as_int())});
            PaymentEvent event{r.biz_trade_no, trade, outcome, (*row)[2].as_int()};
            r.outbox_id = enqueue_outbox(m_conn, {m_options.topic, r.biz_trade_no, event.to_json()}, now, m_ids);
            r.status = wanted;
            r.changed = true;
            return r;
        });
    });
    if (result.changed)
        log::get("reward")->info("payment {} ({}) is {}; event {} queued", trade, result.biz_trade_no,
                                 payment_status_name(result.status), result.outbox_id);
    return result;
}

}  // namespace webook
