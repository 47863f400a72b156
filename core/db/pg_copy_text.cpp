// PostgreSQL's text forms of values: bound parameters and COPY text fields
// written (escaped), COPY text lines read back (split, unescaped, parsed).
#include "core/db/pg_copy_text.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/civil_time.h"
#include "core/db/engines.h"

namespace webook {
namespace pg_text {
namespace {

void append_hex(std::string& out, std::string_view bytes) {
    static constexpr char k_digits[] = "0123456789abcdef";
    const std::size_t start = out.size();
    out.resize(start + bytes.size() * 2);
    char* p = out.data() + start;
    for (unsigned char c : bytes) {
        *p++ = k_digits[c >> 4];
        *p++ = k_digits[c & 15];
    }
}

std::string real_text(double v) {
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest exact
    (void)ec;
    return std::string(buf, end);
}

// COPY text escaping: backslash, tab, newline and carriage return.
void append_copy_text(std::string& line, std::string_view text) {
    std::size_t done = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        const char* escaped = c == '\\' ? "\\\\" : c == '\t' ? "\\t" : c == '\n' ? "\\n" : c == '\r' ? "\\r" : nullptr;
        if (escaped == nullptr) continue;
        line.append(text.data() + done, i - done);
        line += escaped;
        done = i + 1;
    }
    line.append(text.data() + done, text.size() - done);
}

// COPY TO escapes \b \f \n \r \t \v and the backslash; "\N" alone is NULL.
void unescape_copy(std::string_view field, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < field.size(); ++i) {
        char c = field[i];
        if (c == '\\' && i + 1 < field.size()) {
            switch (field[++i]) {
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'v': c = '\v'; break;
            default: c = field[i]; break;  // "\\" and anything else: the character itself
            }
        }
        out += c;
    }
}

}  // namespace

std::optional<std::string> param_text(const Value& v) {
    switch (v.kind()) {
    case ValueKind::null: return std::nullopt;
    case ValueKind::boolean: return std::string(v.as_bool() ? "t" : "f");
    case ValueKind::real: return real_text(v.as_double());
    case ValueKind::text:
    case ValueKind::decimal: return std::string(v.as_string());
    case ValueKind::bytes: {
        std::string out = "\\x";
        append_hex(out, v.as_string());
        return out;
    }
    case ValueKind::date:
    case ValueKind::datetime: {
        std::string text = v.canonical();
        if (zero_part_date(v.micros()))
            throw Error(
                Code::data,
                fmt::format("{} is MySQL's {}, which PostgreSQL has no value for: set the row's value in "
                            "the source (or NULL), or leave the table out",
                            text, text.starts_with("0000-00-00") ? "zero date" : "date with a zero month or day"));
        return text;
    }
    default: return v.canonical();  // integers, time
    }
}

void append_copy_field(std::string& line, const Value& v) {
    switch (v.kind()) {
    case ValueKind::null: line += "\\N"; break;
    case ValueKind::text: append_copy_text(line, v.as_string()); break;
    case ValueKind::bytes:
        line += "\\\\x";  // bytea hex input, its backslash escaped for COPY
        append_hex(line, v.as_string());
        break;
    default: append_copy_text(line, *param_text(v)); break;
    }
}

Value read_value(ValueKind kind, std::string_view text, const std::string& column) {
    try {
        if (kind == ValueKind::text) return Value::text(std::string(text));
        return Value::parse(kind, text);
    } catch (const Error& e) {
        throw e.context(fmt::format("column '{}'", column));
    }
}

void parse_copy_line(std::string_view line, const std::vector<ValueKind>& kinds, const std::vector<std::string>& names,
                     Row& row, std::string& scratch) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    row.resize(kinds.size());
    std::size_t pos = 0;
    for (std::size_t c = 0; c < kinds.size(); ++c) {
        if (pos > line.size())
            throw Error(Code::internal, fmt::format("COPY line has {} fields, expected {}", c, kinds.size()));
        std::size_t end = line.find('\t', pos);
        if (end == std::string_view::npos) end = line.size();
        const std::string_view field = line.substr(pos, end - pos);
        pos = end + 1;
        if (field.find('\\') == std::string_view::npos) {
            row[c] = read_value(kinds[c], field, names[c]);
        } else if (field == "\\N") {
            row[c] = Value();
        } else {
            unescape_copy(field, scratch);
            row[c] = read_value(kinds[c], scratch, names[c]);
        }
    }
    if (!kinds.empty() && pos <= line.size())
        throw Error(Code::internal, fmt::format("COPY line has more fields than the {} expected", kinds.size()));
}

}  // namespace pg_text

std::optional<std::string> postgres_param_text(const Value& v) {
    return pg_text::param_text(v);
}

}  // namespace webook
