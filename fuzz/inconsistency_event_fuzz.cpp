// InconsistencyEvent::parse (core/migration/event.h): the JSON events a fixer
// reads from Kafka or a JSONL file, written by anyone who can produce to the
// topic. Refusals are Error(Code::data). Invariants of a parsed event: a
// table, a key of at least one column with one integer or text value each;
// to_json() parses back to the same event; message_key() works.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/db/value.h"
#include "core/migration/event.h"
#include "fuzz/fuzz_check.h"

namespace webook {
namespace {

using fuzz::require;

bool same_event(const InconsistencyEvent& a, const InconsistencyEvent& b) {
    if (a.table != b.table || a.key_columns != b.key_columns || a.type != b.type || a.base != b.base ||
        a.detected_at != b.detected_at || a.validator != b.validator || a.key.size() != b.key.size())
        return false;
    for (std::size_t i = 0; i < a.key.size(); ++i)
        if (a.key[i].kind() != b.key[i].kind() || !same_data(a.key[i], b.key[i])) return false;
    return true;
}

void check_parsed(const InconsistencyEvent& e) {
    require(!e.table.empty(), "an event without a table");
    require(!e.key.empty() && e.key.size() == e.key_columns.size(), "a key without values, or not one per column");
    for (const Value& v : e.key) {
        const ValueKind k = v.kind();
        require(k == ValueKind::integer || k == ValueKind::unsigned_integer || k == ValueKind::text,
                "a key value neither integer nor text");
    }
    const InconsistencyEvent back = InconsistencyEvent::parse(e.to_json());
    require(same_event(e, back), "to_json() does not parse back to the same event: " + e.to_json());
    (void)e.message_key();
}

}  // namespace
}  // namespace webook

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace webook;
    const std::string_view text = fuzz::as_text(data, size);
    fuzz::run_input({}, [&] {
        InconsistencyEvent e;
        try {
            e = InconsistencyEvent::parse(text);
        } catch (const Error& err) {
            fuzz::require(err.code() == Code::data, std::string("not a data error: ") + err.what());
            return;
        }
        check_parsed(e);
    });
    return 0;
}
