#include "tests/support/migration_data.h"

#include "migrate/mode_control.h"

#include <fstream>
#include <stdexcept>

#include <fmt/format.h>

#include "core/db/dialect.h"

namespace webook::testing {
namespace {

constexpr std::int64_t k_2026 = 1767225600LL * 1'000'000;  // 2026-01-01 00:00:00 UTC, micros

bool is_mysql(Connection& conn) {
    return conn.dialect().engine() == Engine::mysql;
}

void insert(Connection& conn, const std::string& table, const std::vector<std::string>& columns, const Row& row) {
    const Dialect& d = conn.dialect();
    conn.execute(fmt::format("INSERT INTO {} ({}) VALUES {}", d.quote(table), d.quote_list(columns),
                             d.placeholders(1, static_cast<int>(columns.size()))),
                 row);
}

const std::vector<std::string> k_type_columns{"id", "name", "note", "amount", "at", "flag", "data", "utime"};

Row type_row(std::int64_t id) {
    const std::int64_t i = id / 2;
    Row r;
    r.push_back(Value::integer(id));
    switch (i % 4) {
    case 0: r.push_back(Value::text(fmt::format("Row {}", id))); break;
    case 1: r.push_back(Value::text(fmt::format("row {} \xF0\x9F\x98\x80", id))); break;  // U+1F600
    case 2: r.push_back(Value::text(fmt::format("ROW {} trailing ", id))); break;
    default: r.push_back(Value::text(fmt::format("\xE8\xA1\x8C {}", id))); break;  // 行
    }
    switch (i % 3) {
    case 0: r.push_back(Value::null()); break;
    case 1: r.push_back(Value::text("")); break;
    default: r.push_back(Value::text(fmt::format("note {}", id))); break;
    }
    r.push_back(i % 5 == 0 ? Value::null() : Value::decimal(fmt::format("{}.{:02}", id * 3, id % 100)));
    r.push_back(i % 7 == 0 ? Value::null() : Value::datetime_micros(k_2026 + id * 1'000'001));
    r.push_back(i % 3 == 0 ? Value::null() : Value::boolean(i % 2 == 1));
    if (i % 6 == 0)
        r.push_back(Value::null());
    else if (i % 6 == 1)
        r.push_back(Value::bytes(""));
    else
        r.push_back(Value::bytes(std::string{'\0', static_cast<char>(id & 0xff), '\xff', 'a'}));
    r.push_back(Value::datetime_micros(k_2026 + id * 1000));
    // The values plant_type_differences() changes on the target.
    switch (id) {
    case 10: r[1] = Value::text("Mixed Case"); break;
    case 12: r[1] = Value::text("trailing"); break;
    case 14: r[1] = Value::text("emoji \xF0\x9F\x98\x80"); break;
    case 16: r[2] = Value::null(); break;
    case 18: r[2] = Value::text(""); break;
    case 20: r[3] = Value::decimal("1.50"); break;
    case 22: r[4] = Value::datetime_micros(k_2026 + 123456); break;
    case 24: r[5] = Value::boolean(true); break;
    case 26: r[6] = Value::bytes(std::string{'\0', '\x01', '\xff'}); break;
    case 28: r[1] = Value::text("caf\xC3\xA9"); break;  // é precomposed (NFC)
    default: break;
    }
    return r;
}

void set_column(Connection& conn, const std::string& table, std::int64_t id, const std::string& column,
                const Value& value) {
    const Dialect& d = conn.dialect();
    auto r = conn.execute(fmt::format("UPDATE {} SET {} = {} WHERE id = {}", d.quote(table), d.quote(column),
                                      d.placeholder(1), d.placeholder(2)),
                          std::vector<Value>{value, Value::integer(id)});
    if (r.affected_rows != 1) throw std::runtime_error(fmt::format("planting on id {} changed nothing", id));
}

}  // namespace

std::vector<EnginePair> engine_pairs() {
    return {{Engine::mysql, Engine::mysql, "MysqlToMysql"},
            {Engine::postgres, Engine::postgres, "PostgresToPostgres"},
            {Engine::mysql, Engine::postgres, "MysqlToPostgres"}};
}

void step_mode(Connection& control, Mode to) {
    ensure_mode_row(control);
    for (int m = static_cast<int>(read_mode(control)); m != static_cast<int>(to);) {
        m += m < static_cast<int>(to) ? 1 : -1;
        set_mode(control, static_cast<Mode>(m));
    }
}

void PrintTo(const EnginePair& pair, std::ostream* os) {
    *os << pair.name;
}

void PrintTo(const Finding& f, std::ostream* os) {
    *os << "{" << f.key << " " << f.type << " base " << f.base << "}";
}

void create_types_table(Connection& conn, const std::string& table, int decimal_scale) {
    const Dialect& d = conn.dialect();
    const std::string t = d.quote(table);
    if (is_mysql(conn)) {
        conn.execute(
            fmt::format("CREATE TABLE {} (id BIGINT NOT NULL PRIMARY KEY, name VARCHAR(64) NOT NULL, "
                        "note VARCHAR(64) NULL, amount DECIMAL({}, {}) NULL, at DATETIME(6) NULL, "
                        "flag TINYINT(1) NULL, data BLOB NULL, utime DATETIME(6) NOT NULL, "
                        "KEY idx_utime (utime))",
                        t, 8 + decimal_scale, decimal_scale));
    } else {
        conn.execute(
            fmt::format("CREATE TABLE {} (id bigint NOT NULL PRIMARY KEY, name varchar(64) NOT NULL, "
                        "note varchar(64) NULL, amount numeric({}, {}) NULL, at timestamp(6) NULL, "
                        "flag boolean NULL, data bytea NULL, utime timestamp(6) NOT NULL)",
                        t, 8 + decimal_scale, decimal_scale));
        conn.execute(fmt::format("CREATE INDEX {} ON {} (utime)", d.quote(table + "_utime"), t));
    }
}

void insert_types_rows(Connection& conn, const std::string& table, int rows) {
    Transaction tx(conn);
    for (int i = 1; i <= rows; ++i) insert(conn, table, k_type_columns, type_row(2 * i));
    tx.commit();
}

Findings plant_type_differences(Connection& target, const std::string& table) {
    const Dialect& d = target.dialect();
    set_column(target, table, 10, "name", Value::text("mixed case"));  // case only
    set_column(target, table, 12, "name", Value::text("trailing "));   // trailing space
    set_column(target, table, 14, "name",
               Value::text("emoji \xF0\x9F\x98\x81"));       // another 4-byte character
    set_column(target, table, 16, "note", Value::text(""));  // NULL -> ''
    set_column(target, table, 18, "note", Value::null());    // '' -> NULL
    set_column(target, table, 20, "amount", Value::decimal("1.51"));
    set_column(target, table, 22, "at",
               Value::datetime_micros(k_2026 + 123457));  // one microsecond
    set_column(target, table, 24, "flag", Value::boolean(false));
    set_column(target, table, 26, "data", Value::bytes(std::string{'\0', '\x01', '\xfe'}));
    set_column(target, table, 28, "name", Value::text("cafe\xCC\x81"));  // é decomposed (NFD)
    for (std::int64_t id : {2, 30, 300})
        target.execute(fmt::format("DELETE FROM {} WHERE id = {}", d.quote(table), id));
    for (std::int64_t id : {1, 31, 301, 100000}) {
        Row r = type_row(id);
        r[1] = Value::text(fmt::format("extra {}", id));
        insert(target, table, k_type_columns, r);
    }
    Findings f;
    for (int id = 10; id <= 28; id += 2) f.insert({std::to_string(id), "neq", "src"});
    for (int id : {2, 30, 300}) f.insert({std::to_string(id), "target_missing", "src"});
    for (int id : {1, 31, 301, 100000}) f.insert({std::to_string(id), "base_missing", "src"});
    return f;
}

Findings with_base_dst(const Findings& base_src) {
    Findings out;
    for (const Finding& f : base_src) {
        std::string type = f.type == "target_missing" ? "base_missing"
                           : f.type == "base_missing" ? "target_missing"
                                                      : f.type;
        out.insert({f.key, type, "dst"});
    }
    return out;
}

void create_composite_table(Connection& conn, const std::string& table) {
    conn.execute(
        fmt::format("CREATE TABLE {} (k varchar(32) NOT NULL, n bigint NOT NULL, v varchar(64) NULL, "
                    "PRIMARY KEY (k, n))",
                    conn.dialect().quote(table)));
}

namespace {
const std::vector<std::pair<std::string, std::int64_t>> k_composite_keys{
    {"a", 1}, {"a", 2}, {"a", 10}, {"B", 1}, {"c", 5}, {"\xC3\xA9", 1}, {"Z", 3}, {"_u", 7}, {"a b", 4}};
}

void insert_composite_rows(Connection& conn, const std::string& table) {
    for (const auto& [k, n] : k_composite_keys)
        insert(conn, table, {"k", "n", "v"},
               {Value::text(k), Value::integer(n), Value::text(fmt::format("{}#{}", k, n))});
}

Findings plant_composite_differences(Connection& target, const std::string& table) {
    const Dialect& d = target.dialect();
    const std::string t = d.quote(table);
    auto exec = [&](const std::string& sql, std::vector<Value> params) {
        if (target.execute(sql, params).affected_rows != 1) throw std::runtime_error("planting failed: " + sql);
    };
    const std::string p1 = d.placeholder(1), p2 = d.placeholder(2), p3 = d.placeholder(3);
    exec(fmt::format("DELETE FROM {} WHERE k = {} AND n = {}", t, p1, p2), {Value::text("a"), Value::integer(2)});
    exec(fmt::format("UPDATE {} SET v = {} WHERE k = {} AND n = {}", t, p1, p2, p3),
         {Value::text("changed"), Value::text("a"), Value::integer(10)});
    exec(fmt::format("UPDATE {} SET k = {} WHERE k = {} AND n = {}", t, p1, p2, p3),
         {Value::text("C"), Value::text("c"), Value::integer(5)});
    for (const auto& [k, n] : std::vector<std::pair<std::string, std::int64_t>>{{"a", 3}, {"zz", 1}, {"\xC3\xBF", 1}})
        insert(target, table, {"k", "n", "v"}, {Value::text(k), Value::integer(n), Value::text("extra")});
    return {{"a|2", "target_missing", "src"},     {"a|10", "neq", "src"},         {"c|5", "target_missing", "src"},
            {"C|5", "base_missing", "src"},       {"a|3", "base_missing", "src"}, {"zz|1", "base_missing", "src"},
            {"\xC3\xBF|1", "base_missing", "src"}};
}

std::vector<InconsistencyEvent> read_events(const std::string& path) {
    std::ifstream in(path);
    std::vector<InconsistencyEvent> out;
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(InconsistencyEvent::parse(line));
    return out;
}

std::string key_text(const Row& key) {
    std::string out;
    for (const Value& v : key) out += (out.empty() ? "" : "|") + v.display();
    return out;
}

Findings findings_of(const std::vector<InconsistencyEvent>& events) {
    Findings out;
    for (const auto& e : events)
        out.insert({key_text(e.key), std::string(event_type_name(e.type)), std::string(base_side_name(e.base))});
    return out;
}

std::int64_t row_count(Connection& conn, const std::string& table) {
    return (*conn.query_one("SELECT COUNT(*) FROM " + conn.dialect().quote(table)))[0].as_int();
}

std::vector<std::string> dump_rows(Connection& conn, const std::string& table, const std::string& order_by) {
    std::vector<std::string> out;
    for (const Row& r :
         conn.query(fmt::format("SELECT * FROM {} ORDER BY {}", conn.dialect().quote(table), order_by))) {
        std::string line;
        for (const Value& v : r) line += (line.empty() ? "" : " | ") + (v.is_null() ? "NULL" : v.display());
        out.push_back(line);
    }
    return out;
}

}  // namespace webook::testing
