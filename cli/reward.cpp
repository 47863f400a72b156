// webookctl reward create|callback
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/platform.h"
#include "cli/render.h"
#include "core/base/error.h"
#include "platform/rewards.h"

namespace webook::cli {
namespace {

struct RewardArgs {
    PlatformTarget where;
    RewardRequest request;
    std::string trade_no;
    std::string status;
    std::string txn_id;
    std::string topic{k_payment_topic};
};

int run_create(Context& ctx, const RewardArgs& a) {
    a.request.validate();  // before connecting: bad input is a usage error
    auto db = open_platform(ctx, a.where);
    CreatedReward r = RewardService(*db->conn, RewardOptions{a.topic}).create_reward(a.request);
    render(ctx,
           nlohmann::ordered_json{{"reward_id", r.reward_id},
                                  {"payment_id", r.payment_id},
                                  {"trade_no", r.trade_no},
                                  {"biz_trade_no", r.biz_trade_no},
                                  {"amount", r.amount},
                                  {"status", reward_status_name(RewardStatus::init)}},
           fmt::format("reward {} of {} cents created; pay with trade number {} ({})", r.reward_id, r.amount,
                       r.trade_no, r.biz_trade_no));
    return k_exit_ok;
}

int run_callback(Context& ctx, const RewardArgs& a) {
    const PaymentOutcome outcome = parse_outcome(a.status);
    if (a.trade_no.empty()) throw Error(Code::usage, "--trade-no must not be empty");
    auto db = open_platform(ctx, a.where);
    std::optional<std::string> txn;
    if (!a.txn_id.empty()) txn = a.txn_id;
    CallbackResult r = RewardService(*db->conn, RewardOptions{a.topic}).payment_callback(a.trade_no, outcome, txn);
    render(ctx,
           nlohmann::ordered_json{
               {"trade_no", r.trade_no},
               {"biz_trade_no", r.biz_trade_no},
               {"status", payment_status_name(r.status)},
               {"changed", r.changed},
               {"outbox_id", r.changed ? nlohmann::ordered_json(r.outbox_id) : nlohmann::ordered_json(nullptr)}},
           r.changed ? fmt::format("payment {} ({}) is {}; its event is queued in the outbox (row {})", r.trade_no,
                                   r.biz_trade_no, payment_status_name(r.status), r.outbox_id)
                     : fmt::format("payment {} ({}) was already {}: nothing changed", r.trade_no, r.biz_trade_no,
                                   payment_status_name(r.status)));
    return k_exit_ok;
}

}  // namespace

void register_reward(CLI::App& app, Context& ctx) {
    CLI::App* reward = app.add_subcommand("reward",
                                          "reward an author: create a reward and its payment, and take "
                                          "the payment provider's callback");
    reward->require_subcommand(1);
    auto a = std::make_shared<RewardArgs>();

    CLI::App* create = reward->add_subcommand("create",
                                              "a reward (status init) and its payment with a new trade "
                                              "number, in one transaction");
    add_platform_options(create, a->where);
    create->add_option("--uid", a->request.uid, "the user who pays")->required();
    create->add_option("--target-uid", a->request.target_uid, "the user rewarded (the author)")->required();
    create->add_option("--biz", a->request.biz, "what is rewarded (default: article)");
    create->add_option("--biz-id", a->request.biz_id, "its id, e.g. the article id")->required();
    create->add_option("--amount", a->request.amount, "in cents, positive")->required();
    example(create,
            "webookctl reward create --uid 7 --target-uid 42 --biz article --biz-id 1001 --amount 500 "
            "--dsn mysql://webook@127.0.0.1:13306/webook");
    bind_action(create, ctx, a, run_create);

    CLI::App* callback = reward->add_subcommand(
        "callback",
        "what the payment provider's callback does: mark the payment success or failed and queue "
        "its "
        "event in the outbox, in one transaction; a repeated callback changes nothing");
    add_platform_options(callback, a->where);
    callback->add_option("--trade-no", a->trade_no, "the payment's trade number (from reward create)")->required();
    callback->add_option("--status", a->status, "success|failed")->required();
    callback->add_option("--txn-id", a->txn_id, "the provider's transaction id, stored with the payment");
    callback->add_option("--topic", a->topic, "the outbox topic of payment events (default: payment_events)");
    example(callback, "webookctl reward callback --trade-no T0123456789abcdef --status success");
    bind_action(callback, ctx, a, run_callback);
}

}  // namespace webook::cli
