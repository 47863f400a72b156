#include "core/db/dialect.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/engines.h"

namespace webook {
namespace {

// Any name as a quoted identifier (the quote character doubled inside), for
// names the server reported rather than ones a user typed.
std::string quote_any(std::string_view name, char q) {
    std::string out(1, q);
    for (char c : name) {
        if (c == q) out += q;
        out += c;
    }
    return out + q;
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        if (i) out += sep;
        out += parts[i];
    }
    return out;
}

// Each column as 'N' (NULL) or 'V<byte length>:<text>', comma-separated:
// no two different rows concatenate to the same input.
void check_identifier(std::string_view identifier) {
    if (!valid_identifier(identifier))
        throw Error(Code::config,
                    fmt::format("invalid identifier '{}': a name must be 1 to 63 bytes of UTF-8 without control "
                                "characters",
                                identifier.substr(0, 80)));
}

class MysqlDialect final : public Dialect {
public:
    Engine engine() const override { return Engine::mysql; }

    const SqlLexicon& lexicon() const override { return k_mysql_lexicon; }

    std::optional<std::string> literal(const Value& v) const override {
        static constexpr char k_hex[] = "0123456789abcdef";
        switch (v.kind()) {
        case ValueKind::null: return "NULL";
        case ValueKind::integer: return std::to_string(v.as_int());
        case ValueKind::unsigned_integer: return std::to_string(v.as_uint());
        case ValueKind::boolean: return v.as_bool() ? "1" : "0";
        case ValueKind::decimal:
            // Validated digits, sign and point -- or NaN/Infinity, which only
            // PostgreSQL has: quoted, so MariaDB refuses it as a value.
            if (const std::string d = v.canonical(); d.find_first_of("NI") == std::string::npos) return d;
            return "'" + v.canonical() + "'";
        case ValueKind::text:
        case ValueKind::bytes: {
            const std::string_view bytes = v.as_string();
            const bool text = v.kind() == ValueKind::text;
            if (bytes.empty()) return text ? "_utf8mb4''" : "X''";
            std::string out = text ? "_utf8mb4 X'" : "X'";
            out.reserve(out.size() + bytes.size() * 2 + 1);
            for (unsigned char b : bytes) {
                out += k_hex[b >> 4];
                out += k_hex[b & 15];
            }
            out += '\'';
            return out;
        }
        case ValueKind::date:
        case ValueKind::time:
        case ValueKind::datetime: return "'" + v.canonical() + "'";
        default: return std::nullopt;  // real: no exact literal
        }
    }

    std::string quote(std::string_view identifier) const override {
        check_identifier(identifier);
        return quote_any(identifier, '`');
    }

    std::string placeholder(int) const override { return "?"; }

    std::string upsert(std::string_view table, const std::vector<std::string>& columns,
                       const std::vector<std::string>& key_columns, int rows) const override {
        std::string sql = insert_prefix("INSERT INTO", table, columns, rows);
        std::vector<std::string> sets;
        for (const auto& c : columns) {
            bool is_key = std::find(key_columns.begin(), key_columns.end(), c) != key_columns.end();
            if (!is_key) sets.push_back(fmt::format("{0} = VALUES({0})", quote(c)));
        }
        if (sets.empty()) sets.push_back(fmt::format("{0} = {0}", quote(key_columns.at(0))));
        return sql + " ON DUPLICATE KEY UPDATE " + join(sets, ", ");
    }

    std::string insert_ignore(std::string_view table, const std::vector<std::string>& columns,
                              int rows) const override {
        return insert_prefix("INSERT IGNORE INTO", table, columns, rows);
    }

    // A binary string compares byte-wise and without PAD SPACE (utf8mb4_bin
    // would still treat 'a' and 'a ' as equal), whatever the column charset.
    std::string binary(std::string_view expr) const override { return fmt::format("CAST({} AS BINARY)", expr); }

    std::string_view for_share() const override { return " LOCK IN SHARE MODE"; }
    std::string_view long_stream_session() const override { return "SET SESSION net_write_timeout = 3600"; }
    std::string_view now() const override { return "UTC_TIMESTAMP(6)"; }

    std::string type_name(const ColumnDef& c) const override {
        switch (c.type) {
        case ColumnType::id: return "BIGINT NOT NULL AUTO_INCREMENT";
        case ColumnType::bigint: return "BIGINT";
        case ColumnType::integer: return "INT";
        case ColumnType::smallint: return "SMALLINT";
        case ColumnType::boolean: return "TINYINT(1)";
        case ColumnType::varchar: return fmt::format("VARCHAR({})", c.size);
        case ColumnType::text: return "TEXT";
        case ColumnType::longtext: return "LONGTEXT";
        case ColumnType::decimal: return fmt::format("DECIMAL({},{})", c.size, c.scale);
        case ColumnType::real: return "DOUBLE";
        case ColumnType::datetime: return "DATETIME(6)";
        case ColumnType::date: return "DATE";
        case ColumnType::bytes: return "BLOB";
        }
        return "TEXT";
    }

    std::vector<std::string> create_table(const TableDef& t) const override {
        std::vector<std::string> parts;
        for (const auto& c : t.columns) parts.push_back(column_sql(c));
        parts.push_back(fmt::format("PRIMARY KEY ({})", quote_list(t.primary_key)));
        for (const auto& ix : t.indexes)
            parts.push_back(
                fmt::format("{}KEY {} ({})", ix.unique ? "UNIQUE " : "", quote(ix.name), quote_list(ix.columns)));
        return {
            fmt::format("CREATE TABLE IF NOT EXISTS {} (\n  {}\n) ENGINE=InnoDB DEFAULT "
                        "CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
                        quote(t.name), join(parts, ",\n  "))};
    }

    std::string truncate(std::string_view table) const override { return "TRUNCATE TABLE " + quote(table); }

    std::vector<std::string> sync_identity(std::string_view, std::string_view) const override {
        return {};  // AUTO_INCREMENT moves past explicit ids by itself
    }

    std::string upsert_add(std::string_view table, const std::vector<std::string>& columns,
                           const std::vector<std::string>&,
                           const std::vector<std::pair<std::string, std::string>>& adds,
                           const std::vector<std::string>& sets) const override {
        // ON DUPLICATE KEY fires on any unique key: callers pass tables whose
        // only unique keys are the primary key and `conflict_key`.
        std::vector<std::string> parts;
        for (const auto& [c, delta] : adds) parts.push_back(fmt::format("{0} = {0} + ({1})", quote(c), delta));
        for (const auto& c : sets) parts.push_back(fmt::format("{0} = VALUES({0})", quote(c)));
        return insert_prefix("INSERT INTO", table, columns, 1) + " ON DUPLICATE KEY UPDATE " + join(parts, ", ");
    }

    std::string lock_timeout(std::chrono::milliseconds wait) const override {
        const auto seconds = (wait.count() + 999) / 1000;
        return fmt::format("SET SESSION innodb_lock_wait_timeout = {}", std::max<std::int64_t>(seconds, 1));
    }

    std::string queue_later_lockers(std::string_view) const override { return ""; }

    std::string canonical_text(std::string_view q, ValueKind kind, int scale,
                               std::string_view sql_type) const override {
        switch (kind) {
        case ValueKind::integer:
        case ValueKind::unsigned_integer:
        case ValueKind::boolean:
            // As text: its decimal digits -- but a BIT reads as its bytes
            // and a YEAR as four digits (0 as 0000): their number, as the
            // other side prints it.
            if (sql_type.starts_with("bit") || sql_type.starts_with("year"))
                return fmt::format("CAST({} AS UNSIGNED)", q);
            return std::string(q);
        case ValueKind::datetime:
            // PostgreSQL's own text for a timestamp, which it prints at a
            // fraction of to_char's cost: the fraction without its trailing
            // zeros, no '.' when it is zero. A DATETIME without fractional
            // digits reads as that text already.
            if (!sql_type.empty() && sql_type.find('(') == std::string_view::npos) return std::string(q);
            return fmt::format("IF(MICROSECOND({0}) = 0, LEFT({0}, 19), TRIM(TRAILING '0' FROM {0}))", q);
        case ValueKind::date: return std::string(q);
        case ValueKind::decimal:
            if (scale <= 0) return fmt::format("CAST({} AS CHAR)", q);
            return fmt::format("TRIM(TRAILING '.' FROM TRIM(TRAILING '0' FROM CAST({} AS CHAR)))", q);
        case ValueKind::text: return fmt::format("CAST({} AS BINARY)", q);  // bytes; no collation mixing
        case ValueKind::bytes: return fmt::format("LOWER(HEX({}))", q);
        case ValueKind::time: return fmt::format("TIME_FORMAT({}, '%H:%i:%s.%f')", q);
        default: break;
        }
        throw Error(Code::config,
                    fmt::format("column {} ({}) has no exact text form for checksums", q, kind_name(kind)));
    }

    std::string byte_length(std::string_view expr) const override { return fmt::format("LENGTH({})", expr); }

    std::string concat(const std::vector<std::string>& parts) const override {
        return fmt::format("CONCAT({})", fmt::join(parts, ", "));
    }

    std::string hex64(std::string_view hex_expr) const override {
        return fmt::format("CAST(CONV({}, 16, 10) AS UNSIGNED)", hex_expr);
    }

    std::string running_sessions_sql() const override {
        return "SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM information_schema.GLOBAL_STATUS "
               "WHERE VARIABLE_NAME = 'THREADS_RUNNING'";
    }
    std::string row_estimate_sql() const override {
        return "SELECT CAST(TABLE_ROWS AS SIGNED) FROM information_schema.TABLES "
               "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?";
    }

    std::string running_sessions_fallback_sql() const override {
        return "SELECT CAST(VARIABLE_VALUE AS SIGNED) FROM performance_schema.global_status "
               "WHERE VARIABLE_NAME = 'Threads_running'";
    }

    std::string unique_indexes_sql() const override {
        return "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
               "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 AND "
               "INDEX_NAME <> 'PRIMARY' "
               "AND COLUMN_NAME IS NOT NULL AND SUB_PART IS NULL ORDER BY INDEX_NAME, SEQ_IN_INDEX";
    }

    std::string index_keeping_sql() const override {
        return "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE "
               "CONSTRAINT_SCHEMA = DATABASE() "
               "AND (TABLE_NAME = ? OR REFERENCED_TABLE_NAME = ?)";
    }

    std::string index_listing_sql(std::string_view table, bool& takes_name) const override {
        takes_name = false;
        return "SHOW CREATE TABLE " + quote(table);
    }

    // The KEY clauses of SHOW CREATE TABLE's text.
    std::vector<IndexDefinition> parse_index_listing(const std::vector<Row>& rows) const override {
        if (rows.empty() || rows.front().size() < 2) return {};
        const std::vector<Row>::const_reference create = rows.front();
        std::vector<IndexDefinition> out;
        const std::string ddl(create.at(1).as_string());
        std::size_t pos = 0;
        while (pos < ddl.size()) {
            std::size_t end = ddl.find('\n', pos);
            if (end == std::string::npos) end = ddl.size();
            std::string_view line(ddl.data() + pos, end - pos);
            pos = end + 1;
            while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
            if (!line.empty() && line.back() == ',') line.remove_suffix(1);
            bool index = false;
            for (std::string_view kind : {"KEY `", "UNIQUE KEY `", "FULLTEXT KEY `", "SPATIAL KEY `"})
                index = index || line.substr(0, kind.size()) == kind;
            if (!index) continue;
            // The name: between the first backtick and the next unpaired one.
            std::string name;
            for (std::size_t i = line.find('`') + 1; i < line.size(); ++i) {
                if (line[i] == '`' && i + 1 < line.size() && line[i + 1] == '`') {
                    name += '`';
                    ++i;
                } else if (line[i] == '`') {
                    break;
                } else {
                    name += line[i];
                }
            }
            out.push_back({name, std::string(line)});
        }
        return out;
    }

    std::string drop_index(std::string_view table, const IndexDefinition& index) const override {
        return fmt::format("ALTER TABLE {} DROP INDEX {}", quote(table), quote_any(index.name, '`'));
    }

    std::vector<std::string> create_indexes(std::string_view table,
                                            const std::vector<IndexDefinition>& indexes) const override {
        if (indexes.empty()) return {};
        std::string sql = "ALTER TABLE " + quote(table);
        for (std::size_t i = 0; i < indexes.size(); ++i) sql += (i ? ", ADD " : " ADD ") + indexes[i].definition;
        return {sql};
    }

private:
    std::string column_sql(const ColumnDef& c) const {
        std::string sql = quote(c.name) + " " + type_name(c);
        if (c.type != ColumnType::id) sql += c.nullable ? " NULL" : " NOT NULL";
        if (!c.default_sql.empty()) sql += " DEFAULT " + c.default_sql;
        return sql;
    }

    std::string insert_prefix(std::string_view verb, std::string_view table, const std::vector<std::string>& columns,
                              int rows) const {
        std::string sql = fmt::format("{} {} ({}) VALUES ", verb, quote(table), quote_list(columns));
        const std::string one = placeholders(1, static_cast<int>(columns.size()));
        for (int r = 0; r < rows; ++r) {
            if (r) sql += ", ";
            sql += one;
        }
        return sql;
    }
};

class PostgresDialect final : public Dialect {
public:
    Engine engine() const override { return Engine::postgres; }

    const SqlLexicon& lexicon() const override { return k_postgres_lexicon; }

    std::optional<std::string> literal(const Value& v) const override {
        const std::optional<std::string> text = postgres_param_text(v);
        if (!text) return "NULL";
        std::string out = "E'";
        out.reserve(text->size() + 3);
        for (char ch : *text) {
            if (ch == '\'' || ch == '\\') out += ch;
            out += ch;
        }
        out += '\'';
        return out;
    }

    std::string quote(std::string_view identifier) const override {
        check_identifier(identifier);
        return quote_any(identifier, '"');
    }

    std::string placeholder(int n) const override { return fmt::format("${}", n); }

    std::string upsert(std::string_view table, const std::vector<std::string>& columns,
                       const std::vector<std::string>& key_columns, int rows) const override {
        std::string sql = insert_prefix(table, columns, rows);
        std::vector<std::string> sets;
        for (const auto& c : columns) {
            bool is_key = std::find(key_columns.begin(), key_columns.end(), c) != key_columns.end();
            if (!is_key) sets.push_back(fmt::format("{0} = EXCLUDED.{0}", quote(c)));
        }
        sql += fmt::format(" ON CONFLICT ({}) DO ", quote_list(key_columns));
        return sql + (sets.empty() ? "NOTHING" : "UPDATE SET " + join(sets, ", "));
    }

    std::string insert_ignore(std::string_view table, const std::vector<std::string>& columns,
                              int rows) const override {
        return insert_prefix(table, columns, rows) + " ON CONFLICT DO NOTHING";
    }

    std::string binary(std::string_view expr) const override { return fmt::format("{} COLLATE \"C\"", expr); }

    std::string_view for_share() const override { return " FOR SHARE"; }
    std::string_view long_stream_session() const override { return {}; }
    std::string_view now() const override { return "(clock_timestamp() AT TIME ZONE 'UTC')"; }

    std::string type_name(const ColumnDef& c) const override {
        switch (c.type) {
        case ColumnType::id: return "BIGSERIAL";
        case ColumnType::bigint: return "bigint";
        case ColumnType::integer: return "integer";
        case ColumnType::smallint: return "smallint";
        case ColumnType::boolean: return "boolean";
        case ColumnType::varchar: return fmt::format("varchar({})", c.size);
        case ColumnType::text:
        case ColumnType::longtext: return "text";
        case ColumnType::decimal: return fmt::format("numeric({},{})", c.size, c.scale);
        case ColumnType::real: return "double precision";
        case ColumnType::datetime: return "timestamp(6) without time zone";
        case ColumnType::date: return "date";
        case ColumnType::bytes: return "bytea";
        }
        return "text";
    }

    std::vector<std::string> create_table(const TableDef& t) const override {
        std::vector<std::string> parts;
        for (const auto& c : t.columns) {
            std::string sql = quote(c.name) + " " + type_name(c);
            if (c.type != ColumnType::id) sql += c.nullable ? " NULL" : " NOT NULL";
            if (!c.default_sql.empty()) sql += " DEFAULT " + c.default_sql;
            parts.push_back(std::move(sql));
        }
        parts.push_back(fmt::format("PRIMARY KEY ({})", quote_list(t.primary_key)));
        std::vector<std::string> out{
            fmt::format("CREATE TABLE IF NOT EXISTS {} (\n  {}\n)", quote(t.name), join(parts, ",\n  "))};
        for (const auto& ix : t.indexes)
            out.push_back(fmt::format("CREATE {}INDEX IF NOT EXISTS {} ON {} ({})", ix.unique ? "UNIQUE " : "",
                                      quote(t.name + "_" + ix.name), quote(t.name), quote_list(ix.columns)));
        return out;
    }

    std::string truncate(std::string_view table) const override { return "TRUNCATE TABLE " + quote(table); }

    std::vector<std::string> sync_identity(std::string_view table, std::string_view column) const override {
        // Only serial and identity columns own a sequence;
        // pg_get_serial_sequence is NULL otherwise. Its second argument is a
        // bare column name (taken literally). Forward only: a sequence that is
        // already past the rows (ids handed out whose rows were deleted or
        // rolled back, or a writer's nextval in flight) is left alone, or a
        // later insert would reuse an id.
        check_identifier(column);
        return {
            fmt::format("SELECT setval(q.s, q.m) FROM (SELECT pg_get_serial_sequence({0}, {1})::regclass AS s, "
                        "(SELECT MAX({2}) FROM {3}) AS m) q "
                        "WHERE q.s IS NOT NULL AND q.m IS NOT NULL "
                        "AND q.m > COALESCE(pg_sequence_last_value(q.s), 0)",
                        string_literal(quote(table)), string_literal(column), quote(column), quote(table))};
    }

    std::string upsert_add(std::string_view table, const std::vector<std::string>& columns,
                           const std::vector<std::string>& conflict_key,
                           const std::vector<std::pair<std::string, std::string>>& adds,
                           const std::vector<std::string>& sets) const override {
        std::vector<std::string> parts;
        int n = static_cast<int>(columns.size());
        for (const auto& [c, delta] : adds)
            parts.push_back(fmt::format("{0} = {1}.{0} + ({2})", quote(c), quote(table), renumber(delta, n)));
        for (const auto& c : sets) parts.push_back(fmt::format("{0} = EXCLUDED.{0}", quote(c)));
        return insert_prefix(table, columns, 1) +
               fmt::format(" ON CONFLICT ({}) DO UPDATE SET {}", quote_list(conflict_key), join(parts, ", "));
    }

    std::string lock_timeout(std::chrono::milliseconds wait) const override {
        return fmt::format("SET lock_timeout = '{}ms'", std::max<std::int64_t>(wait.count(), 1));
    }

    std::string queue_later_lockers(std::string_view table) const override {
        return fmt::format("LOCK TABLE {} IN EXCLUSIVE MODE", quote(table));
    }

    // Types read as text that are not character types (json, jsonb, xml,
    // uuid, inet, point, path, enums, domains...) have no octet_length() or
    // ||: their text output is what is hashed, as it is what is read.
    static bool character_type(std::string_view sql_type) {
        return sql_type == "text" || sql_type.starts_with("character") || sql_type == "name" || sql_type == "citext" ||
               sql_type == "\"char\"";
    }

    std::string text_operand(std::string_view q, std::string_view sql_type) const override {
        return character_type(sql_type) ? std::string(q) : fmt::format("{}::text", q);
    }

    std::string canonical_text(std::string_view q, ValueKind kind, int, std::string_view sql_type) const override {
        switch (kind) {
        case ValueKind::integer:
        case ValueKind::unsigned_integer: return fmt::format("{}::text", q);
        case ValueKind::boolean: return fmt::format("{}::int::text", q);
        case ValueKind::decimal: return fmt::format("trim_scale({})::text", q);
        case ValueKind::text: return text_operand(q, sql_type);
        case ValueKind::bytes: return fmt::format("encode({}, 'hex')", q);
        // The ISO text of the session's DateStyle (pg_connection.cpp): the
        // fraction without its trailing zeros, no '.' when it is zero, and
        // " BC" before year 1, as Value::canonical() prints it. (to_char
        // costs a quarter of the whole row hash, and its YYYY alone prints
        // 44 BC as 0044, which is 44 AD.) timestamptz in UTC, without its
        // "+00".
        case ValueKind::datetime:
            if (sql_type.find("with time zone") != std::string_view::npos)
                return fmt::format("({} AT TIME ZONE 'UTC')::text", q);
            return fmt::format("{}::text", q);
        case ValueKind::date: return fmt::format("{}::text", q);
        case ValueKind::time: return fmt::format("to_char({}, 'HH24:MI:SS.US')", q);
        default: break;
        }
        throw Error(Code::config,
                    fmt::format("column {} ({}) has no exact text form for checksums", q, kind_name(kind)));
    }

    std::string byte_length(std::string_view expr) const override { return fmt::format("octet_length({})", expr); }

    std::string concat(const std::vector<std::string>& parts) const override {
        return fmt::format("({})", fmt::join(parts, " || "));
    }

    std::string hex64(std::string_view hex_expr) const override {
        return fmt::format("('x' || {})::bit(64)::bigint", hex_expr);
    }

    std::string running_sessions_sql() const override {
        return "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND backend_type = "
               "'client backend'";
    }

    std::string row_estimate_sql() const override {
        return "SELECT CAST(reltuples AS bigint) FROM pg_catalog.pg_class WHERE oid = to_regclass(quote_ident($1))";
    }

    std::string unique_indexes_sql() const override {
        return "SELECT ic.relname, a.attname "
               "FROM pg_catalog.pg_index i "
               "JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid "
               "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
               "JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
               "WHERE i.indrelid = to_regclass(quote_ident($1)) AND i.indisunique AND NOT "
               "i.indisprimary "
               "AND i.indpred IS NULL AND i.indexprs IS NULL "
               "ORDER BY ic.relname, k.ord";
    }

    std::string index_keeping_sql() const override { return ""; }  // the listing leaves constraints' indexes out

    std::string index_listing_sql(std::string_view, bool& takes_name) const override {
        takes_name = true;
        return "SELECT c.relname, pg_get_indexdef(i.indexrelid) "
               "FROM pg_catalog.pg_index i "
               "JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid "
               "WHERE i.indrelid = to_regclass(quote_ident($1)) AND NOT i.indisprimary "
               "AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k "
               "                 WHERE k.conindid = i.indexrelid) "
               "ORDER BY c.relname";
    }

    std::vector<IndexDefinition> parse_index_listing(const std::vector<Row>& rows) const override {
        std::vector<IndexDefinition> out;
        for (const Row& r : rows) out.push_back({std::string(r.at(0).as_string()), std::string(r.at(1).as_string())});
        return out;
    }

    std::string drop_index(std::string_view, const IndexDefinition& index) const override {
        return "DROP INDEX IF EXISTS " + quote_any(index.name, '"');
    }

    std::vector<std::string> create_indexes(std::string_view,
                                            const std::vector<IndexDefinition>& indexes) const override {
        std::vector<std::string> out;
        for (const auto& ix : indexes) out.push_back(ix.definition);
        return out;
    }

private:
    // "?" markers in a caller's SQL fragment as $n, continuing from `n`.
    std::string renumber(std::string_view fragment, int& n) const {
        SqlLexicon fragments = k_postgres_lexicon;
        fragments.markers = MarkerStyle::question;
        auto out = replace_markers(fragment, fragments, [&](std::size_t) { return placeholder(++n); });
        if (!out) throw Error(Code::internal, fmt::format("SQL fragment '{}' cannot be renumbered", fragment));
        return *out;
    }

    // `text` as a string literal: E'...', which reads backslashes as
    // escapes whatever standard_conforming_strings says; quotes and
    // backslashes are doubled.
    static std::string string_literal(std::string_view text) {
        std::string out = "E'";
        for (char c : text) {
            if (c == '\'' || c == '\\') out += c;
            out += c;
        }
        return out + "'";
    }

    std::string insert_prefix(std::string_view table, const std::vector<std::string>& columns, int rows) const {
        std::string sql = fmt::format("INSERT INTO {} ({}) VALUES ", quote(table), quote_list(columns));
        const int n = static_cast<int>(columns.size());
        for (int r = 0; r < rows; ++r) {
            if (r) sql += ", ";
            sql += placeholders(r * n + 1, n);
        }
        return sql;
    }
};

}  // namespace

std::string Dialect::row_hash64(const std::vector<HashedColumn>& columns) const {
    std::vector<std::string> parts;
    for (const HashedColumn& c : columns) {
        std::string text = canonical_text(c.quoted, c.kind, c.decimal_scale, c.sql_type);
        // Only text may hold the separator: its length goes first.
        if (c.kind == ValueKind::text) text = concat({byte_length(text_operand(c.quoted, c.sql_type)), "':'", text});
        parts.push_back(c.nullable ? fmt::format("COALESCE({}, 'N')", text) : text);
    }
    return hex64(fmt::format("SUBSTR(MD5(CONCAT_WS('|', {})), 1, 16)", fmt::join(parts, ", ")));
}

std::string Dialect::quote_list(const std::vector<std::string>& identifiers) const {
    std::string out;
    for (std::size_t i = 0; i < identifiers.size(); ++i) {
        if (i) out += ", ";
        out += quote(identifiers[i]);
    }
    return out;
}

std::string Dialect::placeholders(int first, int count) const {
    std::string out = "(";
    for (int i = 0; i < count; ++i) {
        if (i) out += ", ";
        out += placeholder(first + i);
    }
    return out + ")";
}

std::optional<std::string> Dialect::inline_params(std::string_view sql, std::span<const Value> params) const {
    return replace_markers(
        sql, lexicon(), [&](std::size_t i) { return literal(params[i]); }, params.size(), Separate::yes);
}

std::vector<IndexDefinition> secondary_indexes(Connection& conn, std::string_view table) {
    const Dialect& d = conn.dialect();
    const std::vector<Value> names{Value::text(std::string(table)), Value::text(std::string(table))};
    if (const std::string keeping = d.index_keeping_sql(); !keeping.empty()) {
        auto kept = conn.query_one(keeping, names);
        if (kept && (*kept)[0].as_int() > 0) return {};
    }
    bool takes_name = false;
    const std::string listing = d.index_listing_sql(table, takes_name);
    return d.parse_index_listing(takes_name ? conn.query(listing, Params(names.data(), 1)) : conn.query(listing));
}

const Dialect& dialect_for(Engine engine) {
    static const MysqlDialect mysql;
    static const PostgresDialect postgres;
    if (engine == Engine::mysql) return mysql;
    return postgres;
}

bool valid_identifier(std::string_view id) {
    // At most 63 bytes: PostgreSQL silently truncates a longer name, so it
    // would name another table; MySQL's 64 characters hold every such name.
    if (id.empty() || id.size() > 63) return false;
    for (std::size_t i = 0; i < id.size();) {
        const auto c = static_cast<unsigned char>(id[i]);
        if (c < 0x20 || c == 0x7f) return false;  // control characters, NUL
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (len == 0 || i + len > id.size()) return false;
        for (std::size_t k = 1; k < len; ++k)
            if ((static_cast<unsigned char>(id[i + k]) & 0xc0) != 0x80) return false;
        if (len == 2 && c < 0xc2) return false;  // overlong
        i += len;
    }
    return true;
}

}  // namespace webook
