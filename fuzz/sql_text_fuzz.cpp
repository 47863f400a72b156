// The SQL scanner, replace_markers (core/db/sql_text.h), and what is built on
// it: Dialect::inline_params (core/db/dialect.h), which turns parameters into
// literals so a statement can stream. SQL text comes from our own code and
// from callers' fragments; parameter values come from outside (rows, flags).
//
// Input: byte 0 picks the lexicon (modulo 3: MySQL, PostgreSQL, PostgreSQL
// with "?" markers as in portable fragments), byte 1 how many parameters
// (modulo 8), then one byte per parameter picks its value; the rest is SQL.
// Nothing here throws: an Error is a finding.
// Invariants:
//   - "?" markers written back as "?" give the text back unchanged (nothing
//     lost, nothing doubled);
//   - "$n" markers written back as "$n" are a fixed point: scanned again they
//     give the same text and the same parameter numbers;
//   - inlined literals are data, never code: scanning the inlined statement
//     finds the same markers whatever the literals hold (their text swapped
//     for as many 'x's), so no value can open or close a quote or comment.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/db/dialect.h"
#include "core/db/dsn.h"
#include "core/db/sql_text.h"
#include "core/db/value.h"
#include "fuzz/fuzz_check.h"

namespace webook {
namespace {

using fuzz::require;

struct Scan {
    std::optional<std::string> out;
    std::vector<std::size_t> indexes;  // of the markers found, in order
};

// Every marker written back in `lexicon`'s own style.
Scan scan(std::string_view sql, const SqlLexicon& lexicon) {
    Scan s;
    s.out = replace_markers(sql, lexicon, [&](std::size_t i) -> std::optional<std::string> {
        s.indexes.push_back(i);
        return lexicon.markers == MarkerStyle::question ? "?" : "$" + std::to_string(i + 1);
    });
    return s;
}

// Strings that try to break out of a literal.
constexpr std::string_view k_texts[] = {
    "", "plain", "it's", "a\\", "\\'?$1", "$$ $1 */ -- \n?", "*/?'\"`", std::string_view("\0\xff'", 3),
};

Value value_for(std::uint8_t b) {
    const std::string text(k_texts[(b / 8) % std::size(k_texts)]);
    switch (b % 8) {
    case 0: return Value();
    case 1: return Value::integer(static_cast<std::int64_t>(b) - 128);
    case 2: return Value::text(text);
    case 3: return Value::bytes(text);
    case 4: return Value::decimal(b & 1 ? "-12.5" : "0");
    case 5: return Value::datetime_micros(static_cast<std::int64_t>(b) * 86'400'000'000);
    case 6: return Value::boolean(b & 1);
    default: return Value::real(0.5);  // MySQL has no exact literal: bind instead
    }
}

// The same values with every text and bytes value made of as many 'x's.
std::vector<Value> harmless(const std::vector<Value>& params) {
    std::vector<Value> out;
    for (const Value& v : params) {
        if (v.kind() == ValueKind::text)
            out.push_back(Value::text(std::string(v.as_string().size(), 'x')));
        else if (v.kind() == ValueKind::bytes)
            out.push_back(Value::bytes(std::string(v.as_string().size(), 'x')));
        else
            out.push_back(v);
    }
    return out;
}

void check_markers(std::string_view sql, const SqlLexicon& lexicon) {
    const Scan first = scan(sql, lexicon);
    if (!first.out) return;
    if (lexicon.markers == MarkerStyle::question) {
        require(*first.out == sql, "writing the \"?\" markers back changes the text");
        return;
    }
    const Scan again = scan(*first.out, lexicon);
    require(again.out == first.out && again.indexes == first.indexes,
            "\"$n\" markers written back do not scan the same again");
}

void check_inlined(std::string_view sql, const Dialect& dialect, const std::vector<Value>& params) {
    const std::optional<std::string> inlined = dialect.inline_params(sql, params);
    const std::vector<Value> plain = harmless(params);
    const std::optional<std::string> inlined_plain = dialect.inline_params(sql, plain);
    require(inlined.has_value() == inlined_plain.has_value(), "what a text value holds decides whether it inlines");
    if (!inlined) return;
    const Scan s = scan(*inlined, dialect.lexicon());
    const Scan s_plain = scan(*inlined_plain, dialect.lexicon());
    require(s.out.has_value() == s_plain.out.has_value() && s.indexes == s_plain.indexes,
            "a literal's content changes how the inlined statement scans: " + *inlined);
}

}  // namespace
}  // namespace webook

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace webook;
    if (size < 2) return 0;
    const int mode = data[0] % 3;
    const std::size_t count = data[1] % 8;
    std::size_t used = 2;
    std::vector<Value> params;
    for (std::size_t i = 0; i < count; ++i) params.push_back(value_for(used < size ? data[used++] : 0));
    const std::string_view sql = fuzz::as_text(data + used, size - used);

    SqlLexicon lexicon = mode == 0 ? k_mysql_lexicon : k_postgres_lexicon;
    if (mode == 2) lexicon.markers = MarkerStyle::question;
    fuzz::run_input({}, [&] {
        check_markers(sql, lexicon);
        if (mode != 2) check_inlined(sql, dialect_for(mode == 0 ? Engine::mysql : Engine::postgres), params);
    });
    return 0;
}
