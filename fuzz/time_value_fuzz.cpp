// The time flags and time values: Value::parse of ValueKind::datetime, date
// and time (core/db/value.h) -- what --since, --from/--to, --base-time and
// --now take, and what the servers print -- and the civil-time arithmetic
// under them (core/db/civil_time.h). The input is read as each of the three
// kinds, and the way ops reconcile reads --from (a time, else a span back
// from now ending in a unit). Refusals are Error(Code::data) (a value) and
// Error(Code::usage) (a span).
// Invariants: a time's canonical text (and, for instants, its ISO 8601 form)
// parses back to the same value; a date is a whole day whose civil date maps
// back to the same day.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/duration.h"
#include "core/base/error.h"
#include "core/db/civil_time.h"
#include "core/db/value.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/printable_time.h"

namespace webook {
namespace {

using fuzz::require;

// A fixed "now" for spans back from now: 2026-12-02 00:00:00 UTC.
constexpr std::int64_t k_now = 1'796'169'600LL * k_micros_per_second;

std::optional<Value> parse(ValueKind kind, std::string_view text) {
    std::optional<Value> v;
    fuzz::run_input({Code::data}, [&] { v = Value::parse(kind, text); });
    return v;
}

void require_same(const Value& v, const Value& back, std::string_view what) {
    require(back.kind() == v.kind() && back.micros() == v.micros(),
            std::string(what) + " does not parse back to the same value: " + v.canonical() + " / " + back.canonical());
}

void check_datetime(const Value& v) {
    if (!fuzz::printable(v)) return;
    require_same(v, Value::parse(ValueKind::datetime, v.canonical()), "a datetime's canonical text");
    require_same(v, Value::parse(ValueKind::datetime, format_iso_utc(v.micros())), "a datetime's ISO 8601 text");
}

void check_date(const Value& v) {
    if (!zero_part_date(v.micros())) {
        require(v.micros() % k_micros_per_day == 0, "a date that is not a whole day");
        const std::int64_t days = v.micros() / k_micros_per_day;
        std::int64_t y = 0;
        unsigned m = 0, d = 0;
        civil_from_days(days, y, m, d);
        require(m >= 1 && m <= 12 && d >= 1 && d <= 31, "civil_from_days() gives no calendar date");
        require(days_from_civil(y, m, d) == days, "civil_from_days() and days_from_civil() disagree");
    }
    if (!fuzz::printable(v)) return;
    require_same(v, Value::parse(ValueKind::date, v.canonical()), "a date's canonical text");
}

void check_time(const Value& v) {
    require_same(v, Value::parse(ValueKind::time, v.canonical()), "a time's canonical text");
}

}  // namespace
}  // namespace webook

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace webook;
    const std::string_view text = fuzz::as_text(data, size);
    const std::optional<Value> instant = parse(ValueKind::datetime, text);
    const std::optional<Value> date = parse(ValueKind::date, text);
    const std::optional<Value> time = parse(ValueKind::time, text);
    fuzz::run_input({}, [&] {
        if (instant) check_datetime(*instant);
        if (date) check_date(*date);
        if (time) check_time(*time);
    });
    // ops reconcile --from: a time, else a span back from now.
    if (!instant && !text.empty() && std::isalpha(static_cast<unsigned char>(text.back()))) {
        fuzz::run_input({Code::usage}, [&] {
            const std::int64_t from = k_now - parse_duration(text, "--from").count();
            require(from <= k_now, "a span back from now that ends after now");
        });
    }
    return 0;
}
