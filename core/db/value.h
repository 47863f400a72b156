// A typed database value with an engine-independent canonical form.
//
// The same logical row read from MariaDB and from PostgreSQL must compare
// equal, and any real difference must compare unequal. Each connector turns
// what its server sends into a Value of the matching kind; same_data() and
// canonical() then hide engine differences that are not differences in data:
//   - TINYINT(1) 1 and boolean true          -> "1"
//   - DECIMAL 1.50 and numeric 1.5           -> "1.5" (exact text, no floats)
//   - DATETIME(6) and timestamp(6)           -> "YYYY-MM-DD HH:MM:SS.ffffff"
//     (PostgreSQL trims trailing zeros of the fraction; time zones are
//      converted to UTC)
//   - BLOB and bytea                         -> the raw bytes
// and keep everything that is: NULL is not '', 'a' is not 'A', 'x ' is not
// 'x', text is compared byte for byte.
//
// Thread safety: a Value is a plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/db/civil_time.h"

namespace webook {

enum class ValueKind {
    null,
    integer,           // signed 64-bit
    unsigned_integer,  // unsigned 64-bit (MySQL BIGINT UNSIGNED)
    real,              // double
    decimal,           // exact decimal, kept as normalised text
    text,              // character data, bytes as stored (UTF-8)
    bytes,             // binary data
    date,              // days, kept as micros of midnight UTC
    time,              // time of day / interval, micros (may be negative)
    datetime,          // micros since 1970-01-01 00:00:00 UTC
    boolean,
};

std::string_view kind_name(ValueKind kind);

class Value {
public:
    Value() = default;  // NULL

    static Value null() { return Value(); }
    static Value integer(std::int64_t v);
    static Value unsigned_integer(std::uint64_t v);
    static Value real(double v);
    // Throws Error(Code::data) if `text` is not a decimal number.
    static Value decimal(std::string_view text);
    static Value text(std::string v);
    static Value bytes(std::string v);
    static Value boolean(bool v);
    static Value datetime_micros(std::int64_t micros_since_epoch);
    static Value date_days(std::int64_t days_since_epoch);
    static Value time_micros(std::int64_t micros);

    // Parses a server's text form into a value of `kind`. Accepts what MariaDB
    // and PostgreSQL print: "t"/"f"/"1"/"0" booleans, "\x..." bytea hex,
    // timestamps with 0-6 fractional digits and an optional "+hh[:mm]" zone,
    // "0000-00-00 ..." zero dates. Throws Error(Code::data) on anything else.
    static Value parse(ValueKind kind, std::string_view text);

    ValueKind kind() const { return m_kind; }
    bool is_null() const { return m_kind == ValueKind::null; }

    std::int64_t as_int() const;    // integer, boolean, date/time kinds
    std::uint64_t as_uint() const;  // unsigned_integer, or a non-negative integer
    double as_double() const;       // real, integer kinds
    bool as_bool() const;
    std::string_view as_string() const;            // text, bytes, decimal
    std::int64_t micros() const { return m_int; }  // datetime, date, time

    // The engine-independent text this value is compared and hashed by.
    // NULL has no canonical text (returns ""); test is_null() first.
    std::string canonical() const;

    // A readable form for messages and JSON: like canonical(), but bytes are
    // shown as hex with a "\x" prefix and NULL as "NULL".
    std::string display() const;

private:
    ValueKind m_kind = ValueKind::null;
    std::int64_t m_int = 0;
    double m_real = 0;
    std::string m_str;
};

using Row = std::vector<Value>;

// True when a and b hold the same data (see the header comment).
bool same_data(const Value& a, const Value& b);
bool same_row(const Row& a, const Row& b);

// Orders key values the way both servers order them under a binary collation
// (numbers numerically, text and bytes byte-wise as unsigned, times by
// instant). NULL sorts first. Returns <0, 0, >0.
int compare_key(const Value& a, const Value& b);
int compare_key(const Row& a, const Row& b);

// Canonical decimal text: no leading zeros, no trailing fractional zeros, no
// trailing point, "-0" as "0". Throws Error(Code::data) if not a number.
std::string normalize_decimal(std::string_view text);

}  // namespace webook
