// migrate schema: plan_schema() per engine pair, compare_schema(), and the
// run that creates what is missing.
#include "migrate/schema.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <optional>
#include <regex>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/db/dialect.h"

namespace webook {
namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? std::string(sep) : "") + parts[i];
    return out;
}

std::string target_name(const TableConfig& config, const std::string& column) {
    auto it = config.column_map.find(column);
    return it == config.column_map.end() ? column : it->second;
}

// A PostgreSQL string literal (standard_conforming_strings: only ' doubled).
std::string pg_string(std::string_view s) {
    std::string out = "'";
    for (char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
}

// PostgreSQL's identifiers are at most 63 bytes.
std::string pg_index_name(const std::string& table, const std::string& index) {
    std::string name = table + "_" + index;
    if (name.size() > 63) name.resize(63);
    return name;
}

// ALTER TABLE ... ADD CONSTRAINT for a foreign key, its columns renamed by
// column_map; `ref_table` already quoted.
std::string add_foreign_key(const Dialect& d, const std::string& table, const std::string& name,
                            const CatalogForeignKey& fk, const std::string& ref_table, const TableConfig& config) {
    std::vector<std::string> cols;
    for (const auto& c : fk.columns) cols.push_back(target_name(config, c));
    return fmt::format("ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON UPDATE {} ON DELETE {}",
                       table, d.quote(name), d.quote_list(cols), ref_table, d.quote_list(fk.ref_columns), fk.on_update,
                       fk.on_delete);
}

// -- MariaDB/MySQL -> PostgreSQL ----------------------------------------------

struct MappedType {
    std::string type;   // as format_type() prints it
    std::string check;  // a CHECK expression over the quoted column, "" = none
    std::string note;   // why it is not the same type, "" = it is
    bool refused = false;
};

std::string range_check(const std::string& q, const std::string& low, const std::string& high) {
    return fmt::format("{} BETWEEN {} AND {}", q, low, high);
}

MappedType map_mysql_type(const CatalogColumn& c, const std::string& q) {
    const std::string& t = c.data_type;
    const std::string ctype = lower(c.column_type);
    const bool u = c.is_unsigned;
    auto p = [&](int precision) { return precision < 0 ? 0 : std::min(precision, 6); };
    if (t == "tinyint") {
        MappedType m{"smallint", u ? range_check(q, "0", "255") : range_check(q, "-128", "127"),
                     "TINYINT: PostgreSQL's smallest integer is smallint; the CHECK keeps TINYINT's range"};
        if (!u && ctype.starts_with("tinyint(1)"))
            m.note =
                "TINYINT(1) holds any of -128..127 (MySQL's BOOLEAN is only its alias): smallint carries 2 as 2; "
                "if the column only ever holds 0 and 1, set types = { " +
                c.name + " = \"boolean\" } (the copy then refuses any other value, naming its row)";
        return m;
    }
    if (t == "smallint")
        return u ? MappedType{"integer", range_check(q, "0", "65535"),
                              "SMALLINT UNSIGNED: integer holds 0..65535; the CHECK keeps the range"}
                 : MappedType{"smallint", "", ""};
    if (t == "mediumint")
        return MappedType{"integer", u ? range_check(q, "0", "16777215") : range_check(q, "-8388608", "8388607"),
                          "MEDIUMINT: PostgreSQL has no 3-byte integer; integer with a CHECK of its range"};
    if (t == "int")
        return u ? MappedType{"bigint", range_check(q, "0", "4294967295"),
                              "INT UNSIGNED: bigint holds 0..4294967295; the CHECK keeps the range"}
                 : MappedType{"integer", "", ""};
    if (t == "bigint") {
        if (!u) return {"bigint", "", ""};
        if (c.auto_increment)
            return {"bigint", q + " >= 0",
                    "BIGINT UNSIGNED AUTO_INCREMENT: an identity must be bigint, which holds ids up to "
                    "9223372036854775807; a larger id is refused by the copy, naming its row"};
        return {"numeric(20,0)", range_check(q, "0", "18446744073709551615"),
                "BIGINT UNSIGNED: bigint stops at 2^63-1, numeric(20,0) holds all of 0..2^64-1 exactly; the CHECK "
                "keeps the range (or set types = { " +
                    c.name + " = \"bigint\" } when no value reaches 2^63)"};
    }
    if (t == "decimal" || t == "numeric")
        return {fmt::format("numeric({},{})", c.numeric_precision, std::max(0, c.numeric_scale)), u ? q + " >= 0" : "",
                u ? "DECIMAL UNSIGNED: numeric with a CHECK that it is not negative" : ""};
    if (t == "float")
        return {"real", u ? q + " >= 0" : "", "FLOAT: real, the same 4-byte IEEE float; compared by value"};
    if (t == "double" || t == "real") return {"double precision", u ? q + " >= 0" : "", ""};
    if (t == "bit") {
        // Read as its unsigned number (BIT(1) as a boolean): carried as that
        // number, which PostgreSQL's bit(n) -- a string of 0s and 1s -- is not.
        const int n = std::max(1, c.numeric_precision);
        if (n == 1) return {"boolean", "", "BIT(1): boolean, as webookctl reads a BIT(1) (b'1' is true)"};
        if (n == 64)
            return {"numeric(20,0)", range_check(q, "0", "18446744073709551615"),
                    "BIT(64): its value as a number (numeric(20,0) holds 0..2^64-1); b'101' is 5"};
        return {"bigint", fmt::format("{} >= 0 AND {} < {}", q, q, std::uint64_t{1} << n),
                fmt::format("BIT({}): its value as a number, with a CHECK that it fits {} bits; b'101' is 5 "
                            "(PostgreSQL's bit(n) is a string of 0s and 1s)",
                            n, n)};
    }
    if (t == "char")
        return {fmt::format("character varying({})", c.char_length), "",
                "CHAR: MySQL strips CHAR's trailing spaces on every read, PostgreSQL's character(n) pads them "
                "back; character varying(n) keeps the value as MySQL gives it"};
    if (t == "varchar") return {fmt::format("character varying({})", c.char_length), "", ""};
    if (t == "tinytext" || t == "text" || t == "mediumtext" || t == "longtext") return {"text", "", ""};
    if (t == "binary" || t == "varbinary" || t == "tinyblob" || t == "blob" || t == "mediumblob" || t == "longblob")
        return {"bytea", "", ""};
    if (t == "date") return {"date", "", "DATE: MySQL's zero date 0000-00-00 has no PostgreSQL value"};
    if (t == "datetime")
        return {fmt::format("timestamp({}) without time zone", p(c.datetime_precision)), "",
                "DATETIME: timestamp without time zone, the same wall-clock value (MySQL's zero date has none)"};
    if (t == "timestamp")
        return {fmt::format("timestamp({}) with time zone", p(c.datetime_precision)), "",
                "TIMESTAMP: an instant (MySQL stores UTC and converts by the session's zone), so timestamptz; "
                "both sides are read in UTC"};
    if (t == "time")
        return {fmt::format("interval({})", p(c.datetime_precision)), "",
                "TIME: MySQL's TIME is a duration (-838:59:59..838:59:59), so interval, which holds all of it "
                "(PostgreSQL's time is a time of day, 00:00..24:00); compared as durations"};
    if (t == "year")
        return {"smallint", q + " = 0 OR " + range_check(q, "1901", "2155"),
                "YEAR: PostgreSQL has no year type; smallint with a CHECK of YEAR's values (0 and 1901..2155)"};
    if (t == "enum") {
        std::vector<std::string> labels;
        for (const auto& l : c.labels) labels.push_back(pg_string(l));
        return {"text", fmt::format("{} IN ({})", q, join(labels, ", ")),
                "ENUM: text with a CHECK of its members (MySQL sorts an ENUM by member number, PostgreSQL's text "
                "by its collation)"};
    }
    if (t == "set") {
        std::vector<std::string> labels;
        for (const auto& l : c.labels) labels.push_back(pg_string(l));
        return {"text",
                fmt::format("{0} = '' OR string_to_array({0}, ',') <@ ARRAY[{1}]::text[]", q, join(labels, ", ")),
                "SET: text (the members joined by ',', as MySQL gives them) with a CHECK that each is a member"};
    }
    if (t == "json") return {"jsonb", "", "JSON: jsonb; compared as JSON (key order and spacing do not matter)"};
    if (t == "uuid") return {"uuid", "", ""};
    MappedType refused;
    refused.refused = true;
    refused.note = fmt::format(
        "{} has no exact PostgreSQL type webookctl carries; set types = {{ {} = \"bytea\" }} to carry its bytes "
        "as MySQL gives them, or leave the table out",
        c.column_type, c.name);
    return refused;
}

// MariaDB's COLUMN_DEFAULT as a PostgreSQL default for `type`, or nullopt
// with `why` set when it does not translate.
std::optional<std::string> map_mysql_default(const CatalogColumn& c, const std::string& type, std::string& why) {
    if (!c.default_expr || *c.default_expr == "NULL") return std::nullopt;
    const std::string& d = *c.default_expr;
    const std::string ld = lower(d);
    if (ld.starts_with("current_timestamp") || ld.starts_with("now(")) {
        if (type.starts_with("timestamp"))
            return type.find("with time zone") != std::string::npos ? "CURRENT_TIMESTAMP" : "LOCALTIMESTAMP";
        why = "default " + d + " not carried (not a timestamp column)";
        return std::nullopt;
    }
    static const std::regex number(R"(-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)");
    if (std::regex_match(d, number)) {
        if (type == "boolean") return d == "0" ? "false" : "true";
        if (type == "bytea" || type.starts_with("timestamp") || type == "date") {
            why = "default " + d + " not carried: no " + type + " of that value";
            return std::nullopt;
        }
        return d;
    }
    if (d.size() >= 2 && d.front() == '\'' && d.back() == '\'') {
        std::string text;
        for (std::size_t i = 1; i + 1 < d.size(); ++i) {
            if (d[i] == '\'' && d[i + 1] == '\'') {
                text += '\'';
                ++i;
            } else if (d[i] == '\\' && i + 2 < d.size()) {
                const char e = d[++i];
                text += e == 'n' ? '\n' : e == 't' ? '\t' : e == '0' ? '\0' : e == 'r' ? '\r' : e;
            } else {
                text += d[i];
            }
        }
        if (text.starts_with("0000-00-00")) {
            why = "default '" + text + "' (MySQL's zero date) not carried: PostgreSQL has no such date";
            return std::nullopt;
        }
        if (type == "bytea" || text.find('\0') != std::string::npos) {
            why = "default " + d + " not carried into bytea";
            return std::nullopt;
        }
        if (type == "boolean") return text == "0" ? "false" : "true";
        return pg_string(text);
    }
    why = "default " + d + " not carried: a MySQL expression; add it by hand if the target needs it";
    return std::nullopt;
}

// A MySQL CHECK expression as PostgreSQL's, when it is made only of column
// names, numbers, plain strings, comparisons and AND/OR/NOT/IS/NULL/IN/
// BETWEEN: those mean the same on both. Anything else (functions, casts,
// MySQL's operators) is not translated: nullopt.
std::optional<std::string> portable_check(std::string_view e, const TableConfig& config) {
    const Dialect& pg = dialect_for(Engine::postgres);
    static const std::regex token(R"(\s+|`[^`]+`|'[^'\\]*'|-?[0-9]+(\.[0-9]+)?|<=|>=|<>|!=|[<>=(),]|[A-Za-z_]+)");
    static const std::vector<std::string> words = {"and", "or", "not", "is", "null", "in", "between", "true", "false"};
    std::string out;
    std::size_t covered = 0;  // every character must be part of a token
    for (std::cregex_iterator it(e.data(), e.data() + e.size(), token), end; it != end; ++it) {
        if (static_cast<std::size_t>(it->position()) != covered) return std::nullopt;
        covered += static_cast<std::size_t>(it->length());
        const std::string t = it->str();
        if (t.front() == '`')
            out += pg.quote(target_name(config, t.substr(1, t.size() - 2)));
        else if ((std::isalpha(static_cast<unsigned char>(t.front())) || t.front() == '_') &&
                 std::find(words.begin(), words.end(), lower(t)) == words.end())
            return std::nullopt;
        else
            out += t == "!=" ? "<>" : t;
    }
    if (covered != e.size()) return std::nullopt;
    return out;
}

bool is_json_check(const CatalogCheck& check, const std::string& column) {
    const std::string e = lower(check.expression);
    return e == "json_valid(`" + lower(column) + "`)";
}

void plan_mysql_to_postgres(const TableDefinition& src, const TableConfig& config, TableSchema& out) {
    const Dialect& pg = dialect_for(Engine::postgres);
    std::vector<std::string> lines, refusals;
    std::vector<std::string> json_columns;
    for (const auto& check : src.checks)
        for (const auto& c : src.columns)
            if (is_json_check(check, c.name)) json_columns.push_back(c.name);
    for (const auto& c : src.columns) {
        const std::string name = target_name(config, c.name);
        const std::string q = pg.quote(name);
        CatalogColumn col = c;
        if (std::find(json_columns.begin(), json_columns.end(), c.name) != json_columns.end()) col.data_type = "json";
        MappedType m;
        if (auto o = config.types.find(c.name); o != config.types.end()) {
            m.type = normalize_type(o->second);
            m.note = fmt::format("{} -> {}: set by the config's types", c.column_type, o->second);
        } else {
            m = map_mysql_type(col, q);
        }
        if (m.refused) {
            refusals.push_back(fmt::format("column {}: {}", c.name, m.note));
            continue;
        }
        std::string line = q + " " + m.type;
        if (c.auto_increment) {
            if (m.type == "bigint" || m.type == "integer" || m.type == "smallint") {
                line += " GENERATED BY DEFAULT AS IDENTITY";
                out.notes.push_back(fmt::format(
                    "{}: AUTO_INCREMENT -> an identity BY DEFAULT (the copy writes the source's ids; its sequence is "
                    "moved past them after the copy, each fix and the switch that makes the target the base)",
                    name));
            } else {
                refusals.push_back(
                    fmt::format("column {}: AUTO_INCREMENT on {}, which cannot be an identity", c.name, m.type));
                continue;
            }
        }
        if (!c.nullable) line += " NOT NULL";
        if (!c.generated_expr.empty()) {
            out.notes.push_back(
                fmt::format("{}: generated in the source ({} {}): created as a plain column that "
                            "the copy fills with the source's values",
                            name, c.generated_stored ? "STORED" : "VIRTUAL", c.generated_expr));
        } else if (!c.auto_increment) {
            std::string why;
            if (auto d = map_mysql_default(c, m.type, why))
                line += " DEFAULT " + *d;
            else if (!why.empty())
                out.notes.push_back(name + ": " + why);
        }
        if (!c.on_update.empty())
            out.notes.push_back(
                fmt::format("{}: {} not carried: PostgreSQL has no such clause (a trigger would be "
                            "needed); writes through webookctl's double-write set the value on both "
                            "sides only if the statement does",
                            name, c.on_update));
        if (!m.check.empty()) line += " CHECK (" + m.check + ")";
        if (!m.note.empty()) out.notes.push_back(name + ": " + m.note);
        if (!c.charset.empty() && !c.charset.starts_with("utf8") && c.charset != "binary" && c.charset != "ascii")
            out.notes.push_back(
                fmt::format("{}: character set {} (the target's text is UTF-8): values are read through a UTF-8 "
                            "connection, where a character without a Unicode mapping arrives as '?'",
                            name, c.charset));
        if (!c.collation.empty() && c.collation.find("_ci") != std::string::npos) {
            for (const auto& ix : src.indexes)
                if (ix.unique)
                    for (const auto& part : ix.parts)
                        if (part.column == c.name)
                            out.notes.push_back(fmt::format(
                                "{}: unique under {} (case-insensitive) in the source, exact in PostgreSQL: values "
                                "MySQL refuses as duplicates ('a', 'A') would be accepted by the target",
                                name, c.collation));
        }
        lines.push_back(line);
        out.columns.push_back({name, m.type, c.nullable});
    }
    for (const auto& check : src.checks) {
        if (std::any_of(json_columns.begin(), json_columns.end(),
                        [&](const std::string& c) { return is_json_check(check, c); }))
            continue;  // jsonb checks its values itself
        if (auto e = portable_check(check.expression, config))
            lines.push_back(fmt::format("CONSTRAINT {} CHECK ({})", pg.quote(pg_index_name(src.name, check.name)), *e));
        else
            out.notes.push_back(
                fmt::format("CHECK {} ({}) not carried: a MySQL expression; add it by hand if the "
                            "target needs it",
                            check.name, check.expression));
    }
    if (!refusals.empty()) {
        out.refusal = join(refusals, "; ");
        return;
    }
    std::vector<std::string> pk;
    for (const auto& k : src.primary_key) pk.push_back(target_name(config, k));
    if (!pk.empty()) lines.push_back("PRIMARY KEY (" + pg.quote_list(pk) + ")");
    out.primary_key = pk;
    const std::string table = pg.quote(src.name);
    out.statements.push_back(fmt::format("CREATE TABLE IF NOT EXISTS {} (\n  {}\n)", table, join(lines, ",\n  ")));
    for (const auto& ix : src.indexes) {
        if (ix.kind == "FULLTEXT" || ix.kind == "SPATIAL") {
            out.notes.push_back(
                fmt::format("index {}: a {} index has no PostgreSQL twin; not created (a GIN index "
                            "over to_tsvector() serves text search)",
                            ix.name, ix.kind));
            continue;
        }
        std::vector<std::string> parts, names;
        for (const auto& part : ix.parts) {
            const std::string name = target_name(config, part.column);
            names.push_back(name);
            std::string expr = pg.quote(name);
            if (part.prefix > 0) {
                const CatalogColumn* c = src.column(part.column);
                const bool bytes = c && (c->data_type.find("blob") != std::string::npos ||
                                         c->data_type.find("binary") != std::string::npos);
                expr = bytes ? fmt::format("(substring({} from 1 for {}))", expr, part.prefix)
                             : fmt::format("(left({}, {}))", expr, part.prefix);
                out.notes.push_back(fmt::format("index {}: {}'s first {} {} indexed, as in the source", ix.name, name,
                                                part.prefix, bytes ? "bytes" : "characters"));
            }
            if (part.descending) expr += " DESC";
            parts.push_back(expr);
        }
        const std::string index_name = pg_index_name(src.name, ix.name);
        const bool prefixed = std::any_of(ix.parts.begin(), ix.parts.end(), [](const auto& p) { return p.prefix > 0; });
        if (prefixed)
            out.named_indexes.emplace_back(index_name, ix.unique);
        else
            (ix.unique ? out.unique_indexes : out.plain_indexes).push_back(names);
        out.statements.push_back(fmt::format("CREATE {}INDEX IF NOT EXISTS {} ON {} ({})", ix.unique ? "UNIQUE " : "",
                                             pg.quote(index_name), table, join(parts, ", ")));
    }
    for (const auto& fk : src.foreign_keys)
        out.after_copy.push_back(
            add_foreign_key(pg, table, pg_index_name(src.name, fk.name), fk, pg.quote(fk.ref_table), config));
}

// -- PostgreSQL -> PostgreSQL -------------------------------------------------

void plan_postgres_to_postgres(const TableDefinition& src, const TableConfig& config, TableSchema& out) {
    const Dialect& pg = dialect_for(Engine::postgres);
    std::vector<std::string> lines;
    const std::string table = pg.quote(src.name);
    for (const auto& c : src.columns) {
        const std::string name = target_name(config, c.name);
        std::string type = c.column_type;
        if (auto o = config.types.find(c.name); o != config.types.end()) {
            type = normalize_type(o->second);
            out.notes.push_back(fmt::format("{}: {} -> {}: set by the config's types", name, c.column_type, type));
        } else if (c.pg_typtype == 'e') {
            std::vector<std::string> labels;
            for (const auto& l : c.labels) labels.push_back(pg_string(l));
            // CREATE TYPE has no IF NOT EXISTS: a type already there is kept.
            out.statements.push_back(
                fmt::format("DO $webookctl$ BEGIN CREATE TYPE {} AS ENUM ({}); EXCEPTION WHEN "
                            "duplicate_object THEN NULL; END $webookctl$",
                            c.column_type, join(labels, ", ")));
        } else if (c.pg_typtype != 'b' && !c.pg_array) {
            out.notes.push_back(fmt::format("{}: type {} must exist in the target already", name, c.column_type));
        }
        std::string line = pg.quote(name) + " " + type;
        if (!c.collation.empty()) line += " COLLATE " + pg.quote(c.collation);
        if (c.auto_increment) {
            line += " GENERATED BY DEFAULT AS IDENTITY";
            out.notes.push_back(
                fmt::format("{}: an identity BY DEFAULT (the copy writes the source's ids; its "
                            "sequence is moved past them)",
                            name));
        }
        if (!c.nullable) line += " NOT NULL";
        if (!c.generated_expr.empty()) {
            // As in the source: the copy and the fixer leave it to the server.
            line += " GENERATED ALWAYS AS (" + c.generated_expr + ") STORED";
            out.notes.push_back(
                fmt::format("{}: generated ({}), as in the source: the server computes it (the "
                            "copy and the fixer leave it out), validation compares it",
                            name, c.generated_expr));
        } else if (c.default_expr && !c.auto_increment)
            line += " DEFAULT " + *c.default_expr;
        lines.push_back(line);
        out.columns.push_back({name, type, c.nullable});
    }
    for (const auto& check : src.checks) lines.push_back("CONSTRAINT " + pg.quote(check.name) + " " + check.expression);
    std::vector<std::string> pk;
    for (const auto& k : src.primary_key) pk.push_back(target_name(config, k));
    if (!pk.empty()) lines.push_back("PRIMARY KEY (" + pg.quote_list(pk) + ")");
    out.primary_key = pk;
    out.statements.push_back(fmt::format("CREATE TABLE IF NOT EXISTS {} (\n  {}\n)", table, join(lines, ",\n  ")));
    for (const auto& ix : src.indexes) {
        std::vector<std::string> names;
        for (const auto& part : ix.parts) names.push_back(target_name(config, part.column));
        if (!ix.expression_or_partial) (ix.unique ? out.unique_indexes : out.plain_indexes).push_back(names);
        std::string def = ix.definition;
        if (!config.column_map.empty())
            out.notes.push_back(
                fmt::format("index {}: created as the source defines it ({}), over the source's "
                            "column names",
                            ix.name, def));
        const auto at = def.find("INDEX ");
        if (at != std::string::npos) def.insert(at + 6, "IF NOT EXISTS ");
        out.statements.push_back(def);
    }
    for (const auto& fk : src.foreign_keys)
        out.after_copy.push_back(add_foreign_key(pg, table, fk.name, fk, fk.ref_table, config));
}

// -- MariaDB/MySQL -> MariaDB/MySQL -------------------------------------------

// SHOW CREATE TABLE's text with `from` renamed `to` wherever it is a quoted
// identifier (outside string literals).
std::string rename_identifier(const std::string& sql, const std::string& from, const std::string& to) {
    std::string out;
    const std::string needle = "`" + from + "`";
    for (std::size_t i = 0; i < sql.size();) {
        if (sql[i] == '\'') {  // a literal: copied as it is, '' and \' inside
            const std::size_t start = i++;
            while (i < sql.size() && sql[i] != '\'') i += sql[i] == '\\' ? 2 : 1;
            while (i + 1 < sql.size() && sql[i + 1] == '\'') {
                i += 2;
                while (i < sql.size() && sql[i] != '\'') i += sql[i] == '\\' ? 2 : 1;
            }
            i = std::min(sql.size(), i + 1);
            out.append(sql, start, i - start);
        } else if (sql.compare(i, needle.size(), needle) == 0) {
            out += "`" + to + "`";
            i += needle.size();
        } else if (sql[i] == '`') {  // another identifier
            const auto end = sql.find('`', i + 1);
            const std::size_t stop = end == std::string::npos ? sql.size() : end + 1;
            out.append(sql, i, stop - i);
            i = stop;
        } else {
            out += sql[i++];
        }
    }
    return out;
}

void plan_mysql_to_mysql(const TableDefinition& src, const TableConfig& config, TableSchema& out) {
    const Dialect& my = dialect_for(Engine::mysql);
    if (!config.types.empty())
        throw Error(Code::config, fmt::format("[[tables]] {}: types apply to MySQL -> PostgreSQL only (a same-engine "
                                              "pair copies the definition as it is)",
                                              src.name));
    // One clause per line in SHOW CREATE TABLE; foreign keys are moved to
    // after the copy, the AUTO_INCREMENT counter left to follow the ids.
    std::vector<std::string> kept;
    std::string sql = src.create_sql;
    std::size_t from = 0;
    while (from < sql.size()) {
        const auto nl = sql.find('\n', from);
        std::string line = sql.substr(from, nl == std::string::npos ? std::string::npos : nl - from);
        from = nl == std::string::npos ? sql.size() : nl + 1;
        if (line.find(" FOREIGN KEY ") != std::string::npos && line.starts_with("  CONSTRAINT ")) continue;
        kept.push_back(line);
    }
    // The clause before the closing line must not end with a comma now.
    for (std::size_t i = 1; i < kept.size(); ++i)
        if (kept[i].starts_with(")") && kept[i - 1].ends_with(",")) kept[i - 1].pop_back();
    sql = join(kept, "\n");
    sql = std::regex_replace(sql, std::regex(R"( AUTO_INCREMENT=[0-9]+)"), "");
    const std::string head = "CREATE TABLE ";
    if (sql.starts_with(head)) sql.insert(head.size(), "IF NOT EXISTS ");
    for (const auto& [a, b] : config.column_map) sql = rename_identifier(sql, a, b);
    out.statements.push_back(sql);
    for (const auto& c : src.columns) {
        out.columns.push_back({target_name(config, c.name), lower(c.column_type), c.nullable});
        if (!c.generated_expr.empty())
            out.notes.push_back(
                fmt::format("{}: generated ({}), as in the source: the server computes it (the copy and "
                            "the fixer leave it out), validation compares it",
                            c.name, c.generated_expr));
    }
    for (const auto& k : src.primary_key) out.primary_key.push_back(target_name(config, k));
    for (const auto& ix : src.indexes) {
        std::vector<std::string> names;
        for (const auto& part : ix.parts) names.push_back(target_name(config, part.column));
        (ix.unique ? out.unique_indexes : out.plain_indexes).push_back(names);
    }
    for (const auto& fk : src.foreign_keys)
        out.after_copy.push_back(add_foreign_key(my, my.quote(src.name), fk.name, fk, my.quote(fk.ref_table), config));
}

bool same_columns(const std::vector<std::string>& a, const std::vector<std::string>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

// A MySQL column type without its integer display width ("int(11)" and
// "int" are the same type).
std::string without_display_width(const std::string& type) {
    static const std::regex width(R"(^(tinyint|smallint|mediumint|int|bigint)\([0-9]+\))");
    return std::regex_replace(type, width, "$1");
}

}  // namespace

std::string normalize_type(std::string_view type) {
    std::string t = lower(type);
    // Spaces: one between words, none around punctuation.
    t = std::regex_replace(t, std::regex(R"(\s+)"), " ");
    t = std::regex_replace(t, std::regex(R"(\s*([(),])\s*)"), "$1");
    if (!t.empty() && t.front() == ' ') t.erase(0, 1);
    if (!t.empty() && t.back() == ' ') t.pop_back();
    t = std::regex_replace(t, std::regex(R"(\),)"), "), ");  // never inside the types we name
    static const std::vector<std::pair<std::regex, std::string>> aliases = {
        {std::regex(R"(^(int4|int|integer)$)"), "integer"},
        {std::regex(R"(^int8$)"), "bigint"},
        {std::regex(R"(^int2$)"), "smallint"},
        {std::regex(R"(^bool$)"), "boolean"},
        {std::regex(R"(^float8$)"), "double precision"},
        {std::regex(R"(^float4$)"), "real"},
        {std::regex(R"(^varchar\()"), "character varying("},
        {std::regex(R"(^varchar$)"), "character varying"},
        {std::regex(R"(^char\()"), "character("},
        {std::regex(R"(^decimal)"), "numeric"},
        {std::regex(R"(^timestamptz(\([0-9]\))?$)"), "timestamp$1 with time zone"},
        {std::regex(R"(^timestamp(\([0-9]\))?$)"), "timestamp$1 without time zone"},
        {std::regex(R"(^timetz(\([0-9]\))?$)"), "time$1 with time zone"},
        {std::regex(R"(^time(\([0-9]\))?$)"), "time$1 without time zone"},
    };
    for (const auto& [re, to] : aliases) t = std::regex_replace(t, re, to);
    return t;
}

TableSchema plan_schema(const TableDefinition& source, Engine source_engine, Engine target_engine,
                        const TableConfig& config) {
    TableSchema out;
    out.table = source.name;
    for (const auto& [column, type] : config.types)
        if (!source.column(column))
            throw Error(Code::config,
                        fmt::format("[[tables]] {}: types names column '{}', which the source's table does not have",
                                    source.name, column));
    if (source_engine == Engine::mysql && target_engine == Engine::postgres)
        plan_mysql_to_postgres(source, config, out);
    else if (source_engine == Engine::postgres && target_engine == Engine::postgres)
        plan_postgres_to_postgres(source, config, out);
    else if (source_engine == Engine::mysql && target_engine == Engine::mysql)
        plan_mysql_to_mysql(source, config, out);
    else
        out.refusal = "PostgreSQL -> MySQL tables are not created by webookctl: write the target's DDL by hand";
    if (out.refusal.empty() && out.primary_key.empty() && out.unique_indexes.empty())
        out.notes.push_back("no primary key or unique index: the copy and the validators need a key ([[tables]] key)");
    return out;
}

std::vector<std::string> compare_schema(const TableSchema& plan, const TableDefinition& target,
                                        std::vector<std::string>& notes) {
    std::vector<std::string> diffs;
    const bool mysql = !target.create_sql.empty();
    auto same_type = [&](const std::string& want, const std::string& have) {
        if (mysql) return without_display_width(lower(want)) == without_display_width(lower(have));
        return normalize_type(want) == normalize_type(have);
    };
    for (const auto& want : plan.columns) {
        const CatalogColumn* have = target.column(want.name);
        if (!have) {
            diffs.push_back(fmt::format("column {} is missing", want.name));
            continue;
        }
        if (!same_type(want.type, have->column_type))
            diffs.push_back(
                fmt::format("column {}: {}, the source's maps to {}", want.name, have->column_type, want.type));
        if (want.nullable && !have->nullable)
            diffs.push_back(fmt::format("column {}: NOT NULL, the source's allows NULL", want.name));
        else if (!want.nullable && have->nullable)
            notes.push_back(
                fmt::format("column {}: allows NULL, the source's is NOT NULL (holds every value)", want.name));
    }
    for (const auto& have : target.columns) {
        const bool planned = std::any_of(plan.columns.begin(), plan.columns.end(),
                                         [&](const PlannedColumn& c) { return c.name == have.name; });
        if (planned) continue;
        if (!have.nullable && !have.default_expr && !have.auto_increment && have.generated_expr.empty())
            diffs.push_back(fmt::format("column {} is the target's only, NOT NULL without a default", have.name));
        else
            notes.push_back(fmt::format("column {} is the target's only (left to its default)", have.name));
    }
    if (!same_columns(plan.primary_key, target.primary_key))
        diffs.push_back(fmt::format("primary key ({}), the source's is ({})", join(target.primary_key, ", "),
                                    join(plan.primary_key, ", ")));
    auto has_index = [&](const std::vector<std::string>& cols, bool unique) {
        return std::any_of(target.indexes.begin(), target.indexes.end(), [&](const CatalogIndex& ix) {
            if (unique && !ix.unique) return false;
            if (ix.expression_or_partial && !unique) return false;
            std::vector<std::string> names;
            for (const auto& p : ix.parts) names.push_back(p.column);
            return same_columns(names, cols);
        });
    };
    for (const auto& cols : plan.unique_indexes)
        if (!has_index(cols, true))
            diffs.push_back(fmt::format("no unique index on ({}), which the source has", join(cols, ", ")));
    for (const auto& cols : plan.plain_indexes)
        if (!has_index(cols, false))
            notes.push_back(fmt::format("no index on ({}), which the source has", join(cols, ", ")));
    for (const auto& [name, unique] : plan.named_indexes) {
        const bool found = std::any_of(target.indexes.begin(), target.indexes.end(),
                                       [&](const CatalogIndex& ix) { return ix.name == name && ix.unique == unique; });
        if (found) continue;
        if (unique)
            diffs.push_back(fmt::format("no unique index {}, which the source has", name));
        else
            notes.push_back(fmt::format("no index {}, which the source has", name));
    }
    return diffs;
}

std::string_view schema_state_name(SchemaState s) {
    switch (s) {
    case SchemaState::created: return "created";
    case SchemaState::would_create: return "would_create";
    case SchemaState::compatible: return "compatible";
    case SchemaState::differs: return "differs";
    case SchemaState::refused: return "refused";
    }
    return "?";
}

std::vector<SchemaReport> migrate_schema(Connection& source, Connection& target, const std::vector<TableConfig>& tables,
                                         bool dry_run) {
    const Engine from = source.dialect().engine(), to = target.dialect().engine();
    std::vector<SchemaReport> reports;
    bool refused = false;
    for (const auto& t : tables) {
        SchemaReport r;
        r.plan = plan_schema(read_table_definition(source, t.name), from, to, t);
        if (!r.plan.refusal.empty()) {
            r.state = SchemaState::refused;
            refused = true;
        } else if (target.table_exists(t.name)) {
            r.differences = compare_schema(r.plan, read_table_definition(target, t.name), r.plan.notes);
            r.state = r.differences.empty() ? SchemaState::compatible : SchemaState::differs;
        } else {
            r.state = SchemaState::would_create;
        }
        reports.push_back(std::move(r));
    }
    if (dry_run || refused) return reports;
    for (auto& r : reports) {
        if (r.state != SchemaState::would_create) continue;
        try {
            // PostgreSQL's DDL is transactional: a table is there whole or
            // not at all. MySQL commits each statement.
            Transaction tx(target);
            for (const auto& sql : r.plan.statements) target.execute(sql);
            tx.commit();
        } catch (const Error& e) {
            throw e.context(fmt::format("creating {} in {}", r.plan.table, target.describe()));
        }
        r.state = SchemaState::created;
        log::get("schema")->info("{}: created in {} ({} statements)", r.plan.table, target.describe(),
                                 r.plan.statements.size());
    }
    return reports;
}

}  // namespace webook
