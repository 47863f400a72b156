#include "core/migration/checkpoint.h"

#include <chrono>
#include <mutex>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/db/dialect.h"

namespace webook {

CheckpointStore::CheckpointStore(Connection& control) : m_conn(control) {}

const std::vector<TableDef>& control_tables() {
    static const std::vector<TableDef> tables = [] {
        auto column = [](std::string name, ColumnType type, int size = 0, bool nullable = false, std::string def = {}) {
            ColumnDef c;
            c.name = std::move(name);
            c.type = type;
            c.size = size;
            c.nullable = nullable;
            c.default_sql = std::move(def);
            return c;
        };
        TableDef control{k_control_table, {}, {"name"}, {}};
        control.columns = {column("name", ColumnType::varchar, 64), column("value", ColumnType::varchar, 255),
                           column("version", ColumnType::bigint, 0, false, "0"), column("utime", ColumnType::datetime)};
        TableDef checkpoints{k_checkpoint_table, {}, {"kind", "table_name", "shard"}, {}};
        checkpoints.columns = {column("kind", ColumnType::varchar, 32),
                               column("table_name", ColumnType::varchar, 64),
                               column("shard", ColumnType::varchar, 16),
                               column("position", ColumnType::text, 0, true),
                               column("rows_done", ColumnType::bigint, 0, false, "0"),
                               column("result", ColumnType::text, 0, true),
                               column("utime", ColumnType::datetime)};
        return std::vector<TableDef>{control, checkpoints};
    }();
    return tables;
}

void CheckpointStore::ensure_tables() {
    for (const TableDef& table : control_tables()) {
        const TableDef* def = &table;
        const char* name = table.name.c_str();
        with_context(fmt::format("creating control table {} in {}", name, m_conn.describe()), [&] {
            try {
                for (const auto& sql : m_conn.dialect().create_table(*def)) m_conn.execute(sql);
            } catch (const Error&) {
                // Processes starting at once (sharded runs on several hosts)
                // race: PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe
                // against a concurrent one. The table the other made will do.
                if (!m_conn.table_exists(name)) throw;
                for (const auto& sql : m_conn.dialect().create_table(*def)) m_conn.execute(sql);  // the rest
            }
        });
    }
}

namespace {

struct KindName {
    CheckpointKind kind;
    std::string_view name;
};
constexpr KindName k_kind_names[] = {
    {CheckpointKind::copy, "copy"},
    {CheckpointKind::copy_index, "copy-index"},
    {CheckpointKind::validate_incremental, "validate-incremental"},
    {CheckpointKind::shard_plan, "shard-plan"},
    {CheckpointKind::fix, "fix"},
    {CheckpointKind::mode_forced, "mode-forced"},
    {CheckpointKind::pass_incremental, "validate-pass-incremental"},
    {CheckpointKind::pass_full, "validate-pass-full"},
    {CheckpointKind::validate_full, "validate-full"},
};

}  // namespace

std::string_view checkpoint_kind_name(CheckpointKind kind) {
    for (const auto& k : k_kind_names)
        if (k.kind == kind) return k.name;
    return "unknown";
}

std::optional<CheckpointKind> parse_checkpoint_kind(std::string_view name) {
    for (const auto& k : k_kind_names)
        if (k.name == name) return k.kind;
    return std::nullopt;
}

std::string_view pass_kind_name(PassKind kind) {
    return kind == PassKind::incremental ? "incremental" : "full";
}

std::optional<Checkpoint> CheckpointStore::load(CheckpointKind kind, const std::string& table,
                                                const std::string& shard) {
    const Dialect& d = m_conn.dialect();
    std::vector<Value> params{Value::text(std::string(checkpoint_kind_name(kind))), Value::text(table),
                              Value::text(shard)};
    auto row = with_context("reading checkpoint from " + m_conn.describe(), [&] {
        return m_conn.query_one(
            fmt::format("SELECT position, rows_done, result, utime FROM {} WHERE kind = {} AND "
                        "table_name = {} AND shard = {}",
                        d.quote(k_checkpoint_table), d.placeholder(1), d.placeholder(2), d.placeholder(3)),
            params);
    });
    if (!row) return std::nullopt;
    Checkpoint c{kind, table, shard, std::nullopt, (*row)[1].as_int(), "", (*row)[3].canonical()};
    if (!(*row)[0].is_null()) c.position = std::string((*row)[0].as_string());
    if (!(*row)[2].is_null()) c.result = std::string((*row)[2].as_string());
    return c;
}

std::vector<Checkpoint> CheckpointStore::load_all() {
    const Dialect& d = m_conn.dialect();
    std::vector<Checkpoint> out;
    auto rows = with_context("reading checkpoints from " + m_conn.describe(), [&] {
        return m_conn.query(
            fmt::format("SELECT kind, table_name, shard, position, rows_done, result, utime FROM {} "
                        "ORDER BY table_name, kind, shard",
                        d.quote(k_checkpoint_table)));
    });
    for (auto& r : rows) {
        const auto kind = parse_checkpoint_kind(r[0].as_string());
        if (!kind) {
            static std::once_flag warned;
            std::call_once(warned, [&] {
                log::get("checkpoint")
                    ->warn("{} holds checkpoints of kind '{}', unknown to this version: skipped", k_checkpoint_table,
                           r[0].as_string());
            });
            continue;
        }
        Checkpoint c{*kind,
                     std::string(r[1].as_string()),
                     std::string(r[2].as_string()),
                     std::nullopt,
                     r[4].as_int(),
                     "",
                     r[6].canonical()};
        if (!r[3].is_null()) c.position = std::string(r[3].as_string());
        if (!r[5].is_null()) c.result = std::string(r[5].as_string());
        out.push_back(std::move(c));
    }
    return out;
}

namespace {

const std::vector<std::string> k_checkpoint_columns{"kind",      "table_name", "shard", "position",
                                                    "rows_done", "result",     "utime"};

std::vector<Value> checkpoint_values(const Checkpoint& c) {
    const auto now =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch());
    return {Value::text(std::string(checkpoint_kind_name(c.kind))),
            Value::text(c.table),
            Value::text(c.shard),
            c.position ? Value::text(*c.position) : Value(),
            Value::integer(c.rows_done),
            c.result.empty() ? Value() : Value::text(c.result),
            Value::datetime_micros(now.count())};
}

}  // namespace

void CheckpointStore::save(const Checkpoint& c) {
    const std::string sql =
        m_conn.dialect().upsert(k_checkpoint_table, k_checkpoint_columns, {"kind", "table_name", "shard"});
    with_context("saving checkpoint to " + m_conn.describe(), [&] { m_conn.execute(sql, checkpoint_values(c)); });
}

bool CheckpointStore::save_if_absent(const Checkpoint& c) {
    const std::string sql = m_conn.dialect().insert_ignore(k_checkpoint_table, k_checkpoint_columns);
    return with_context("saving checkpoint to " + m_conn.describe(),
                        [&] { return m_conn.execute(sql, checkpoint_values(c)).affected_rows > 0; });
}

void CheckpointStore::clear(CheckpointKind kind, const std::string& table, const std::string& shard) {
    const Dialect& d = m_conn.dialect();
    std::vector<Value> params{Value::text(std::string(checkpoint_kind_name(kind))), Value::text(table),
                              Value::text(shard)};
    with_context("clearing checkpoint in " + m_conn.describe(), [&] {
        m_conn.execute(fmt::format("DELETE FROM {} WHERE kind = {} AND table_name = {} AND shard = {}",
                                   d.quote(k_checkpoint_table), d.placeholder(1), d.placeholder(2), d.placeholder(3)),
                       params);
    });
}

std::int64_t control_clock_us(Connection& control) {
    auto row = control.query_one(fmt::format("SELECT {}", control.dialect().now()));
    return row ? (*row)[0].micros() : 0;
}

void CheckpointStore::add_fixed(const std::string& table, std::int64_t rows) {
    const Dialect& d = m_conn.dialect();
    const std::string sql = d.upsert_add(k_checkpoint_table, k_checkpoint_columns, {"kind", "table_name", "shard"},
                                         {{"rows_done", d.placeholder(8)}}, {"position", "utime"});
    Checkpoint c{CheckpointKind::fix, table, "all", utc_now_iso(), rows, "", {}};
    std::vector<Value> params = checkpoint_values(c);
    params.push_back(Value::integer(rows));
    with_context("counting fixed rows in " + m_conn.describe(), [&] { m_conn.execute(sql, params); });
}

std::int64_t CheckpointStore::fixed(const std::string& table) {
    auto c = load(CheckpointKind::fix, table, "all");
    return c ? c->rows_done : 0;
}

std::string encode_key(const Row& key) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& v : key) arr.push_back(v.display());
    return arr.dump();
}

Row decode_key(const std::string& text, const std::vector<ValueKind>& kinds) {
    nlohmann::json arr;
    try {
        arr = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
        throw Error(Code::data, fmt::format("corrupt checkpoint position '{}'", text));
    }
    if (!arr.is_array() || arr.size() > kinds.size())
        throw Error(Code::data, fmt::format("checkpoint position '{}' does not fit the key", text));
    Row key;
    for (std::size_t i = 0; i < arr.size(); ++i) {
        if (!arr[i].is_string()) throw Error(Code::data, fmt::format("corrupt checkpoint position '{}'", text));
        key.push_back(Value::parse(kinds[i], arr[i].get<std::string>()));
    }
    return key;
}

}  // namespace webook
