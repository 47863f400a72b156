// pg_text::parse_copy_line (core/db/pg_copy_text.h): the COPY text lines a
// PostgreSQL server sends, one per row, read as the columns' kinds.
//
// Input: byte 0 says how many columns (0..8), the next bytes their kinds (one
// byte each, ValueKind by value modulo 11), the rest is the line. Refusals
// are Error(Code::data) (a field that does not parse as its kind) and
// Error(Code::internal) (a line with more or fewer fields than columns).
// Invariants of a line read: one value per column, each NULL or of its
// column's kind; the row written back as a COPY line (append_copy_field)
// reads back to the same data; each value's parameter text (param_text)
// parses back to the same data -- except MySQL's zero date, which the
// writer refuses (PostgreSQL has no such value).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/db/pg_copy_text.h"
#include "core/db/value.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/printable_time.h"

namespace webook {
namespace {

using fuzz::printable;
using fuzz::require;

constexpr std::size_t k_max_columns = 8;
constexpr int k_kinds = 11;  // ValueKind::null .. ValueKind::boolean

bool zero_date(const Value& v) {
    if (v.kind() != ValueKind::date && v.kind() != ValueKind::datetime) return false;
    return zero_part_date(v.micros());
}

void check_read(const Row& row, const std::vector<ValueKind>& kinds, const std::vector<std::string>& names) {
    require(row.size() == kinds.size(), "not one value per column");
    bool all_printable = true;
    for (std::size_t c = 0; c < row.size(); ++c) {
        require(row[c].is_null() || row[c].kind() == kinds[c], "a value not of its column's kind");
        all_printable = all_printable && printable(row[c]);
    }
    if (!all_printable) return;
    // MySQL's zero date reads (the text parses) but PostgreSQL has no such
    // value: the writer refuses it as data, naming it, and nothing else.
    bool any_zero = false;
    for (const Value& v : row) {
        if (!zero_date(v)) continue;
        any_zero = true;
        bool refused = false;
        try {
            std::string field;
            pg_text::append_copy_field(field, v);
        } catch (const Error& e) {
            refused = e.code() == Code::data;
        }
        require(refused, "a zero date written as a COPY field: " + v.display());
    }
    if (any_zero) return;

    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
        if (c > 0) line += '\t';
        pg_text::append_copy_field(line, row[c]);
    }
    line += '\n';
    Row back;
    std::string scratch;
    pg_text::parse_copy_line(line, kinds, names, back, scratch);
    require(back.size() == row.size(), "the line written back has another number of fields");
    for (std::size_t c = 0; c < row.size(); ++c) {
        require(back[c].kind() == row[c].kind() && same_data(back[c], row[c]),
                "a value written as a COPY field reads back as other data: " + row[c].display() + " / " +
                    back[c].display());
        if (row[c].is_null()) continue;
        const Value param = Value::parse(kinds[c], *pg_text::param_text(row[c]));
        require(same_data(param, row[c]), "a value's parameter text parses back as other data: " + row[c].display());
    }
}

}  // namespace
}  // namespace webook

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace webook;
    std::vector<ValueKind> kinds;
    std::vector<std::string> names;
    std::size_t used = 0;
    if (size > 0) {
        const std::size_t columns = data[used++] % (k_max_columns + 1);
        for (std::size_t c = 0; c < columns; ++c) {
            const int kind = used < size ? data[used++] % k_kinds : static_cast<int>(ValueKind::text);
            kinds.push_back(static_cast<ValueKind>(kind));
            names.push_back("c" + std::to_string(c));
        }
    }
    const std::string_view line = fuzz::as_text(data + used, size - used);
    Row row;
    bool read = false;
    fuzz::run_input({Code::data, Code::internal}, [&] {
        std::string scratch;
        pg_text::parse_copy_line(line, kinds, names, row, scratch);
        read = true;
    });
    if (read) fuzz::run_input({}, [&] { check_read(row, kinds, names); });
    return 0;
}
