// PaymentEvent::parse (platform/rewards.h): the payment events the payment
// consumer reads from Kafka or a JSONL file. Refusals are Error(Code::data).
// Invariants of a parsed event: biz_trade_no names a reward (reward-<id>,
// id > 0), the amount is positive; to_json() parses back to the same event.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "fuzz/fuzz_check.h"
#include "platform/rewards.h"

namespace webook {
namespace {

using fuzz::require;

void check_parsed(const PaymentEvent& e) {
    require(reward_id_of(e.biz_trade_no) > 0, "biz_trade_no names no reward");
    require(biz_trade_no_for(reward_id_of(e.biz_trade_no)) == e.biz_trade_no, "biz_trade_no is not canonical");
    require(e.amount > 0, "an amount that is not positive");
    const PaymentEvent back = PaymentEvent::parse(e.to_json());
    require(back.biz_trade_no == e.biz_trade_no && back.trade_no == e.trade_no && back.status == e.status &&
                back.amount == e.amount,
            "to_json() does not parse back to the same event: " + e.to_json());
}

}  // namespace
}  // namespace webook

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace webook;
    const std::string_view text = fuzz::as_text(data, size);
    fuzz::run_input({}, [&] {
        PaymentEvent e;
        try {
            e = PaymentEvent::parse(text);
        } catch (const Error& err) {
            fuzz::require(err.code() == Code::data, std::string("not a data error: ") + err.what());
            return;
        }
        check_parsed(e);
    });
    return 0;
}
