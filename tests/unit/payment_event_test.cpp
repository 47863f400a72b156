// The pure parts of rewards, payments and the outbox: the payment event's
// wire format, biz trade numbers, the author/platform split and the relay's
// backoff schedule.
#include <gtest/gtest.h>

#include <string>

#include "core/base/error.h"
#include "platform/ledger.h"
#include "platform/outbox.h"
#include "platform/payment_consumer.h"
#include "platform/rewards.h"

namespace webook {
namespace {

using namespace std::chrono_literals;

Code code_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.code();
    }
    ADD_FAILURE() << "no webook::Error thrown";
    return Code::internal;
}

TEST(PaymentEvent, RoundTripsThroughJson) {
    PaymentEvent e{"reward-42", "T00ab", PaymentOutcome::failed, 1234};
    EXPECT_EQ(e.to_json(), R"({"biz_trade_no":"reward-42","trade_no":"T00ab","status":"failed","amount":1234})");
    PaymentEvent back = PaymentEvent::parse(e.to_json());
    EXPECT_EQ(back.biz_trade_no, "reward-42");
    EXPECT_EQ(back.trade_no, "T00ab");
    EXPECT_EQ(back.status, PaymentOutcome::failed);
    EXPECT_EQ(back.amount, 1234);
}

TEST(PaymentEvent, ReadsTheSeedersEventsWithoutTradeNumber) {
    PaymentEvent e = PaymentEvent::parse(R"({"biz_trade_no":"reward-7","status":"success","amount":900})");
    EXPECT_EQ(e.trade_no, "");
    EXPECT_EQ(e.status, PaymentOutcome::success);
    EXPECT_EQ(e.amount, 900);
}

TEST(PaymentEvent, RefusesMalformedEventsAsDataErrors) {
    for (const char* bad : {"", "nope", "[]", "{}", R"({"biz_trade_no":"reward-1","status":"success"})",
                            R"({"biz_trade_no":"reward-1","status":"ok","amount":1})",
                            R"({"biz_trade_no":"reward-1","status":"success","amount":0})",
                            R"({"biz_trade_no":"reward-1","status":"success","amount":1.5})",
                            R"({"biz_trade_no":"reward-x","status":"success","amount":1})",
                            R"({"biz_trade_no":7,"status":"success","amount":1})"}) {
        EXPECT_EQ(code_of([&] { PaymentEvent::parse(bad); }), Code::data) << bad;
    }
}

TEST(BizTradeNo, NamesTheRewardAndNothingElse) {
    EXPECT_EQ(biz_trade_no_for(42), "reward-42");
    EXPECT_EQ(reward_id_of("reward-42"), 42);
    for (const char* bad : {"reward-", "reward--1", "reward-0", "reward-1x", "order-1", "reward-99999999999999999999"})
        EXPECT_EQ(code_of([&] { reward_id_of(bad); }), Code::data) << bad;
}

// Found by fuzz/payment_event_fuzz: "reward-07" was read as reward 7, so one
// reward had many trade numbers -- and an event keyed by another one lands in
// another partition, out of order with the reward's other events.
TEST(BizTradeNo, RefusesLeadingZerosSoEachRewardHasOneTradeNumber) {
    for (const char* bad : {"reward-07", "reward-00", "reward-0776627963145224191"})
        EXPECT_EQ(code_of([&] { reward_id_of(bad); }), Code::data) << bad;
    EXPECT_EQ(code_of([] { PaymentEvent::parse(R"({"biz_trade_no":"reward-07","status":"success","amount":1})"); }),
              Code::data);
    EXPECT_EQ(reward_id_of("reward-70"), 70);
}

TEST(RewardBooking, GivesTheAuthorTheFlooredShareAndThePlatformTheRest) {
    Booking b = reward_booking(5, 42, 1001, 90);
    EXPECT_EQ(b.biz, "reward");
    EXPECT_EQ(b.biz_id, 5);
    ASSERT_EQ(b.entries.size(), 2u);
    EXPECT_EQ(b.entries[0].account, (AccountRef{42, AccountType::user}));
    EXPECT_EQ(b.entries[0].amount, 900);
    EXPECT_EQ(b.entries[1].account, AccountRef::platform());
    EXPECT_EQ(b.entries[1].amount, 101);
    EXPECT_EQ(reward_booking(5, 42, 1001, 100).entries[1].amount, 0);
    EXPECT_EQ(reward_booking(5, 42, 1001, 0).entries[0].amount, 0);
}

TEST(Booking, RefusesTwoEntriesOfOneAccount) {
    Booking b{"transfer", 1, {{{1, AccountType::user}, -5}, {{1, AccountType::user}, 5}}};
    EXPECT_EQ(code_of([&] { b.validate(); }), Code::usage);
    b.entries[1].account.type = AccountType::platform;
    b.validate();
}

TEST(RelayOptions, BackoffDoublesUpToTheCap) {
    RelayOptions o;
    o.backoff = 1000ms;
    o.max_backoff = 5000ms;
    EXPECT_EQ(o.delay_after(1), 1000ms);
    EXPECT_EQ(o.delay_after(2), 2000ms);
    EXPECT_EQ(o.delay_after(3), 4000ms);
    EXPECT_EQ(o.delay_after(4), 5000ms);
    EXPECT_EQ(o.delay_after(60), 5000ms);
    o.max_attempts = 0;
    EXPECT_EQ(code_of([&] { o.validate(); }), Code::usage);
}

TEST(RewardRequest, RefusesNonPositiveAmountsAndIds) {
    RewardRequest r{7, 42, "article", 1, 100};
    r.validate();
    for (std::int64_t amount : {0, -1}) {
        RewardRequest bad = r;
        bad.amount = amount;
        EXPECT_EQ(code_of([&] { bad.validate(); }), Code::usage);
    }
    RewardRequest no_target = r;
    no_target.target_uid = 0;
    EXPECT_EQ(code_of([&] { no_target.validate(); }), Code::usage);
    EXPECT_EQ(code_of([] { parse_outcome("refunded"); }), Code::usage);
}

}  // namespace
}  // namespace webook
