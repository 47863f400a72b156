#include "core/db/value.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/civil_time.h"

namespace webook {
namespace {

[[noreturn]] void bad_text(ValueKind kind, std::string_view text) {
    std::string shown(text.substr(0, 40));
    if (text.size() > 40) shown += "...";
    throw Error(Code::data, fmt::format("cannot read '{}' as {}", shown, kind_name(kind)));
}

// A small cursor over server text.
struct Scanner {
    std::string_view s;
    std::size_t i = 0;

    bool done() const { return i >= s.size(); }
    char peek() const { return done() ? '\0' : s[i]; }
    bool eat(char c) {
        if (peek() != c) return false;
        ++i;
        return true;
    }
    // Reads exactly `n` digits (n > 0) or, with n == 0, one or more digits;
    // false for a number past int64.
    bool digits(std::int64_t& out, std::size_t n = 0) {
        std::size_t start = i;
        out = 0;
        while (!done() && s[i] >= '0' && s[i] <= '9' && (n == 0 || i - start < n)) {
            if (__builtin_mul_overflow(out, 10, &out) || __builtin_add_overflow(out, s[i] - '0', &out)) return false;
            ++i;
        }
        return i > start && (n == 0 || i - start == n);
    }
    // ".ffffff" with 0-9 digits, rounded down to microseconds.
    std::int64_t fraction() {
        std::int64_t micros = 0;
        if (!eat('.')) return 0;
        int n = 0;
        while (!done() && s[i] >= '0' && s[i] <= '9') {
            if (n < 6) micros = micros * 10 + (s[i] - '0');
            ++n;
            ++i;
        }
        for (; n < 6; ++n) micros *= 10;
        return micros;
    }
};

// The last year with days that int64 microseconds since 1970 reach (they end
// on 294247-01-10); later years are refused before any arithmetic.
constexpr std::int64_t k_max_year = 294'247;

// days * k_micros_per_day + clock - offset; false when int64 cannot hold it.
bool instant_micros(std::int64_t days, std::int64_t clock, std::int64_t offset, std::int64_t& micros) {
    return !__builtin_mul_overflow(days, k_micros_per_day, &micros) &&
           !__builtin_add_overflow(micros, clock, &micros) && !__builtin_sub_overflow(micros, offset, &micros);
}

// A date as the servers print it: "YYYY-MM-DD"; "-YYYY-..." an astronomical
// year before 1 (ISO 8601), " BC" at the end of the text PostgreSQL's
// (eat_bc).
struct CivilDate {
    std::int64_t y = 0, m = 0, d = 0;
};

bool scan_date(Scanner& sc, CivilDate& date) {
    const bool negative = sc.eat('-');
    if (!sc.digits(date.y) || !sc.eat('-') || !sc.digits(date.m, 2) || !sc.eat('-') || !sc.digits(date.d, 2))
        return false;
    if (negative) date.y = -date.y;
    return true;
}

// PostgreSQL's " BC" suffix: year y BC is the astronomical year 1 - y.
bool eat_bc(Scanner& sc, CivilDate& date) {
    if (sc.s.substr(sc.i) != " BC") return true;
    sc.i = sc.s.size();
    if (date.y < 1) return false;  // no year 0 BC, no "-44 BC"
    date.y = 1 - date.y;
    return true;
}

// The date's first instant (micros since 1970), or for MySQL's dates with a
// zero part their marker (civil_time.h); false for no date.
bool date_start(const CivilDate& c, std::int64_t& micros) {
    if (c.y >= 0 && c.y <= 9999 && (c.m == 0 || c.d == 0) && c.m <= 12 && c.d <= 31) {
        micros = zero_part_marker(c.y, static_cast<unsigned>(c.m), static_cast<unsigned>(c.d));
        return true;
    }
    if (c.m < 1 || c.m > 12 || c.d < 1 || c.d > 31 || c.y > k_max_year || c.y < -k_max_year) return false;
    // Instants as far back as the zero-part markers (year -278,000 or so)
    // would print as one of them: no server has such years.
    return instant_micros(days_from_civil(c.y, static_cast<unsigned>(c.m), static_cast<unsigned>(c.d)), 0, 0, micros) &&
           !zero_part_date(micros);
}

// "HH:MM:SS[.f]" into micros; hours may exceed 24 (MySQL TIME), up to what
// int64 microseconds hold.
bool scan_clock(Scanner& sc, std::int64_t& micros) {
    std::int64_t h = 0, mi = 0, se = 0;
    if (!sc.digits(h) || !sc.eat(':') || !sc.digits(mi, 2) || !sc.eat(':') || !sc.digits(se, 2)) return false;
    const std::int64_t fraction = sc.fraction();
    std::int64_t seconds = 0;
    return !__builtin_mul_overflow(h, 3600, &seconds) && !__builtin_add_overflow(seconds, mi * 60 + se, &seconds) &&
           !__builtin_mul_overflow(seconds, k_micros_per_second, &micros) &&
           !__builtin_add_overflow(micros, fraction, &micros);
}

// Optional zone suffix "+hh", "+hh:mm", "-hhmm", "Z": offset in micros.
bool scan_zone(Scanner& sc, std::int64_t& offset) {
    offset = 0;
    if (sc.eat('Z')) return true;
    int sign = 0;
    if (sc.eat('+'))
        sign = 1;
    else if (sc.eat('-'))
        sign = -1;
    else
        return true;
    std::int64_t h = 0, m = 0;
    if (!sc.digits(h, 2)) return false;
    const bool colon = sc.eat(':');
    const bool digit = sc.peek() >= '0' && sc.peek() <= '9';
    if ((colon || digit) && !sc.digits(m, 2)) return false;  // not before " BC"
    std::int64_t sec = 0;
    if (sc.eat(':') && !sc.digits(sec, 2)) return false;
    offset = sign * ((h * 60 + m) * 60 + sec) * k_micros_per_second;
    return true;
}

// The common case of scan_date + scan_clock, for speed (validation reads
// millions): exactly "YYYY-MM-DD HH:MM:SS" with an optional ".f" of 1-6
// digits, no zone, not a zero date. False for anything else, which the
// general path reads (or refuses) as before.
bool plain_datetime(std::string_view t, std::int64_t& micros) {
    if (t.size() != 19 && (t.size() < 21 || t.size() > 26 || t[19] != '.')) return false;
    if (t[4] != '-' || t[7] != '-' || t[10] != ' ' || t[13] != ':' || t[16] != ':') return false;
    auto digit = [&](std::size_t i) { return static_cast<unsigned>(t[i] - '0'); };
    unsigned bad = 0;
    for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) bad |= digit(i) > 9;
    std::int64_t fraction = 0;
    for (std::size_t i = 20; i < t.size(); ++i) {
        bad |= digit(i) > 9;
        fraction = fraction * 10 + digit(i);
    }
    if (bad) return false;
    for (std::size_t digits = t.size() > 20 ? t.size() - 20 : 0; digits < 6; ++digits) fraction *= 10;
    const std::int64_t y = digit(0) * 1000 + digit(1) * 100 + digit(2) * 10 + digit(3);
    const unsigned m = digit(5) * 10 + digit(6), d = digit(8) * 10 + digit(9);
    if (m < 1 || m > 12 || d < 1 || d > 31) return false;  // zero dates and errors: the general path
    const std::int64_t clock = (static_cast<std::int64_t>(digit(11) * 10 + digit(12)) * 3600 +
                                (digit(14) * 10 + digit(15)) * 60 + digit(17) * 10 + digit(18)) *
                               k_micros_per_second;
    micros = days_from_civil(y, m, d) * k_micros_per_day + clock + fraction;
    return true;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string hex(std::string_view bytes) {
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += k_digits[c >> 4];
        out += k_digits[c & 15];
    }
    return out;
}

std::string format_real(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    if (v == 0) return "0";  // -0 and 0 are the same data
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    (void)ec;
    return std::string(buf, end);
}

// Where PostgreSQL sorts a special numeric: -Infinity below every
// number, Infinity above, NaN above Infinity; 0 for a finite one.
int special_rank(std::string_view d) {
    if (d.empty() || (d[0] != 'N' && d[0] != 'I' && d != "-Infinity")) return 0;
    return d == "-Infinity" ? -1 : d == "Infinity" ? 1 : 2;
}

// Compares two normalised decimal strings numerically.
int compare_decimal(std::string_view a, std::string_view b) {
    if (int ra = special_rank(a), rb = special_rank(b); ra != 0 || rb != 0) return ra < rb ? -1 : ra > rb ? 1 : 0;
    bool na = !a.empty() && a[0] == '-', nb = !b.empty() && b[0] == '-';
    if (na != nb) return na ? -1 : 1;
    if (na) {
        a.remove_prefix(1);
        b.remove_prefix(1);
    }
    auto ia = a.substr(0, a.find('.')), ib = b.substr(0, b.find('.'));
    int r = 0;
    if (ia.size() != ib.size())
        r = ia.size() < ib.size() ? -1 : 1;
    else {
        auto fa = a.substr(ia.size()), fb = b.substr(ib.size());
        int c = ia.compare(ib);
        if (c == 0) c = fa.compare(fb);  // ".5" vs ".25": lexicographic is right here
        r = c < 0 ? -1 : (c > 0 ? 1 : 0);
    }
    return na ? -r : r;
}

bool is_numeric_kind(ValueKind k) {
    return k == ValueKind::integer || k == ValueKind::unsigned_integer || k == ValueKind::decimal ||
           k == ValueKind::boolean;
}

template <typename T>
int three_way(T a, T b) {
    return a < b ? -1 : (a > b ? 1 : 0);
}

}  // namespace

std::string_view kind_name(ValueKind kind) {
    switch (kind) {
    case ValueKind::null: return "null";
    case ValueKind::integer: return "integer";
    case ValueKind::unsigned_integer: return "unsigned integer";
    case ValueKind::real: return "real";
    case ValueKind::decimal: return "decimal";
    case ValueKind::text: return "text";
    case ValueKind::bytes: return "bytes";
    case ValueKind::date: return "date";
    case ValueKind::time: return "time";
    case ValueKind::datetime: return "datetime";
    case ValueKind::boolean: return "boolean";
    }
    return "unknown";
}

Value Value::integer(std::int64_t v) {
    Value out;
    out.m_kind = ValueKind::integer;
    out.m_int = v;
    return out;
}

Value Value::unsigned_integer(std::uint64_t v) {
    Value out;
    out.m_kind = ValueKind::unsigned_integer;
    out.m_int = static_cast<std::int64_t>(v);
    return out;
}

Value Value::real(double v) {
    Value out;
    out.m_kind = ValueKind::real;
    out.m_real = v;
    return out;
}

Value Value::decimal(std::string_view text) {
    Value out;
    out.m_kind = ValueKind::decimal;
    out.m_str = normalize_decimal(text);
    return out;
}

Value Value::text(std::string v) {
    Value out;
    out.m_kind = ValueKind::text;
    out.m_str = std::move(v);
    return out;
}

Value Value::bytes(std::string v) {
    Value out;
    out.m_kind = ValueKind::bytes;
    out.m_str = std::move(v);
    return out;
}

Value Value::boolean(bool v) {
    Value out;
    out.m_kind = ValueKind::boolean;
    out.m_int = v ? 1 : 0;
    return out;
}

Value Value::datetime_micros(std::int64_t micros) {
    Value out;
    out.m_kind = ValueKind::datetime;
    out.m_int = micros;
    return out;
}

Value Value::date_days(std::int64_t days) {
    Value out;
    out.m_kind = ValueKind::date;
    out.m_int = days == k_zero_date ? k_zero_date : days * k_micros_per_day;
    return out;
}

Value Value::time_micros(std::int64_t micros) {
    Value out;
    out.m_kind = ValueKind::time;
    out.m_int = micros;
    return out;
}

Value Value::parse(ValueKind kind, std::string_view text) {
    switch (kind) {
    case ValueKind::null: return Value();
    case ValueKind::integer: {
        std::int64_t v = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc() || p != text.data() + text.size()) bad_text(kind, text);
        return integer(v);
    }
    case ValueKind::unsigned_integer: {
        std::uint64_t v = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc() || p != text.data() + text.size()) bad_text(kind, text);
        return unsigned_integer(v);
    }
    case ValueKind::real: {
        if (text == "NaN") return real(std::numeric_limits<double>::quiet_NaN());
        if (text == "Infinity" || text == "inf") return real(HUGE_VAL);
        if (text == "-Infinity" || text == "-inf") return real(-HUGE_VAL);
        double v = 0;
        auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc() || p != text.data() + text.size()) bad_text(kind, text);
        return real(v);
    }
    case ValueKind::decimal: return decimal(text);
    case ValueKind::text: return Value::text(std::string(text));
    case ValueKind::bytes: {
        // PostgreSQL's bytea_output=hex; anything else is already raw bytes.
        if (text.size() >= 2 && text[0] == '\\' && text[1] == 'x') {
            if (text.size() % 2 != 0) bad_text(kind, text);
            std::string raw;
            raw.reserve((text.size() - 2) / 2);
            for (std::size_t i = 2; i < text.size(); i += 2) {
                int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);
                if (hi < 0 || lo < 0) bad_text(kind, text);
                raw += static_cast<char>(hi * 16 + lo);
            }
            return bytes(std::move(raw));
        }
        return bytes(std::string(text));
    }
    case ValueKind::boolean:
        if (text == "t" || text == "1" || text == "true") return boolean(true);
        if (text == "f" || text == "0" || text == "false") return boolean(false);
        bad_text(kind, text);
    case ValueKind::date: {
        Scanner sc{text};
        CivilDate c;
        Value out;
        out.m_kind = ValueKind::date;
        if (!scan_date(sc, c) || !eat_bc(sc, c) || !sc.done() || !date_start(c, out.m_int)) bad_text(kind, text);
        return out;
    }
    case ValueKind::time: {
        Scanner sc{text};
        bool negative = sc.eat('-');
        std::int64_t micros = 0;
        if (!scan_clock(sc, micros) || !sc.done()) bad_text(kind, text);
        return time_micros(negative ? -micros : micros);
    }
    case ValueKind::datetime: {
        if (std::int64_t micros = 0; plain_datetime(text, micros)) return datetime_micros(micros);
        Scanner sc{text};
        CivilDate c;
        std::int64_t clock = 0, offset = 0, start = 0;
        if (!scan_date(sc, c)) bad_text(kind, text);
        if (!sc.eat(' ') && !sc.eat('T')) {
            if (!sc.done()) bad_text(kind, text);
        } else if (!scan_clock(sc, clock)) {
            bad_text(kind, text);
        }
        if (!scan_zone(sc, offset) || !eat_bc(sc, c) || !sc.done() || !date_start(c, start)) bad_text(kind, text);
        // A zero-part date names no instant: its clock is kept (within the
        // day, or it would be the next marker's), its zone unused.
        if (zero_part_date(start)) {
            if (clock >= k_micros_per_day) bad_text(kind, text);
            return datetime_micros(start + clock);
        }
        std::int64_t micros = 0;
        if (__builtin_add_overflow(start, clock, &micros) || __builtin_sub_overflow(micros, offset, &micros) ||
            zero_part_date(micros))
            bad_text(kind, text);
        return datetime_micros(micros);
    }
    }
    bad_text(kind, text);
}

std::int64_t Value::as_int() const {
    switch (m_kind) {
    case ValueKind::integer:
    case ValueKind::boolean:
    case ValueKind::date:
    case ValueKind::time:
    case ValueKind::datetime: return m_int;
    case ValueKind::unsigned_integer:
        if (m_int < 0) break;
        return m_int;
    case ValueKind::real: return static_cast<std::int64_t>(m_real);
    case ValueKind::decimal: {
        std::int64_t v = 0;
        auto whole = std::string_view(m_str).substr(0, m_str.find('.'));
        auto [p, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), v);
        if (ec == std::errc() && p == whole.data() + whole.size()) return v;
        break;
    }
    default: break;
    }
    throw Error(Code::data, fmt::format("{} value {} is not an integer", kind_name(m_kind), display()));
}

std::uint64_t Value::as_uint() const {
    if (m_kind == ValueKind::unsigned_integer) return static_cast<std::uint64_t>(m_int);
    std::int64_t v = as_int();
    if (v < 0) throw Error(Code::data, fmt::format("value {} is negative", v));
    return static_cast<std::uint64_t>(v);
}

double Value::as_double() const {
    switch (m_kind) {
    case ValueKind::real: return m_real;
    case ValueKind::unsigned_integer: return static_cast<double>(static_cast<std::uint64_t>(m_int));
    case ValueKind::decimal: return std::strtod(m_str.c_str(), nullptr);
    default: return static_cast<double>(as_int());
    }
}

bool Value::as_bool() const {
    return as_int() != 0;
}

std::string_view Value::as_string() const {
    if (m_kind == ValueKind::text || m_kind == ValueKind::bytes || m_kind == ValueKind::decimal) return m_str;
    throw Error(Code::data, fmt::format("{} value is not text", kind_name(m_kind)));
}

std::string Value::canonical() const {
    switch (m_kind) {
    case ValueKind::null: return {};
    case ValueKind::integer:
    case ValueKind::boolean: return std::to_string(m_int);
    case ValueKind::unsigned_integer: return std::to_string(static_cast<std::uint64_t>(m_int));
    case ValueKind::real: return format_real(m_real);
    case ValueKind::decimal:
    case ValueKind::text:
    case ValueKind::bytes: return m_str;
    case ValueKind::date:
        return zero_part_date(m_int) ? format_zero_part_date(m_int, false) : format_date(m_int / k_micros_per_day);
    case ValueKind::time: return format_time(m_int);
    case ValueKind::datetime: return format_datetime(m_int);
    }
    return {};
}

std::string Value::display() const {
    if (m_kind == ValueKind::null) return "NULL";
    if (m_kind == ValueKind::bytes) return "\\x" + hex(m_str);
    return canonical();
}

bool same_data(const Value& a, const Value& b) {
    if (a.is_null() || b.is_null()) return a.is_null() && b.is_null();
    if (a.kind() == b.kind()) {
        switch (a.kind()) {
        case ValueKind::text:
        case ValueKind::bytes:
        case ValueKind::decimal: return a.as_string() == b.as_string();
        case ValueKind::real: break;               // NaN and -0 go through canonical()
        default: return a.micros() == b.micros();  // the integer payload
        }
    }
    return a.canonical() == b.canonical();
}

bool same_row(const Row& a, const Row& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!same_data(a[i], b[i])) return false;
    return true;
}

int compare_key(const Value& a, const Value& b) {
    if (a.is_null() || b.is_null()) return three_way(!a.is_null(), !b.is_null());
    const ValueKind ka = a.kind(), kb = b.kind();
    if (ka == ValueKind::integer && kb == ValueKind::integer) return three_way(a.as_int(), b.as_int());
    if (ka == ValueKind::unsigned_integer && kb == ValueKind::unsigned_integer)
        return three_way(a.as_uint(), b.as_uint());
    if (is_numeric_kind(ka) && is_numeric_kind(kb)) return compare_decimal(a.canonical(), b.canonical());
    if (ka == ValueKind::real || kb == ValueKind::real) return three_way(a.as_double(), b.as_double());
    if ((ka == ValueKind::datetime || ka == ValueKind::date) && (kb == ValueKind::datetime || kb == ValueKind::date))
        return three_way(a.micros(), b.micros());
    if (ka == ValueKind::time && kb == ValueKind::time) return three_way(a.micros(), b.micros());
    // Text, bytes and anything mixed: byte-wise, unsigned (memcmp), like a
    // binary collation or COLLATE "C".
    const std::string ca = a.canonical(), cb = b.canonical();
    int c = std::memcmp(ca.data(), cb.data(), std::min(ca.size(), cb.size()));
    if (c != 0) return c < 0 ? -1 : 1;
    return three_way(ca.size(), cb.size());
}

int compare_key(const Row& a, const Row& b) {
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i)
        if (int c = compare_key(a[i], b[i]); c != 0) return c;
    return three_way(a.size(), b.size());
}

std::string normalize_decimal(std::string_view text) {
    // PostgreSQL's numeric also holds NaN and +-Infinity (MySQL's DECIMAL
    // does not: writing one there fails, naming its row).
    if (text == "NaN") return "NaN";
    if (text == "Infinity" || text == "+Infinity") return "Infinity";
    if (text == "-Infinity") return "-Infinity";
    std::string_view s = text;
    bool negative = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
        negative = s[0] == '-';
        s.remove_prefix(1);
    }
    std::size_t dot = s.find('.');
    std::string_view whole = s.substr(0, dot);
    std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
    auto all_digits = [](std::string_view d) {
        for (char c : d)
            if (c < '0' || c > '9') return false;
        return true;
    };
    if ((whole.empty() && frac.empty()) || !all_digits(whole) || !all_digits(frac)) bad_text(ValueKind::decimal, text);
    while (!whole.empty() && whole[0] == '0') whole.remove_prefix(1);
    while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);
    std::string out;
    out.reserve(whole.size() + frac.size() + 3);
    if (negative && !(whole.empty() && frac.empty())) out += '-';
    if (whole.empty())
        out += '0';
    else
        out += whole;
    if (!frac.empty()) {
        out += '.';
        out += frac;
    }
    return out;
}

}  // namespace webook
