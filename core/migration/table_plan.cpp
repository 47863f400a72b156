#include "core/migration/table_plan.h"

#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/catalog.h"
#include "core/db/dialect.h"

namespace webook {
namespace {

bool same_ignoring_case(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
}

bool starts_with_ignoring_case(std::string_view s, std::string_view prefix) {
    return s.size() >= prefix.size() && same_ignoring_case(s.substr(0, prefix.size()), prefix);
}

// The column of that name: exactly, else -- on MySQL, whose column names are
// case-insensitive (`circuitId` and `circuitid` are one column) -- ignoring
// case. PostgreSQL keeps a quoted name's case: there they are two columns.
const ColumnInfo* find(const std::vector<ColumnInfo>& columns, const std::string& name, Engine engine) {
    for (const auto& c : columns)
        if (c.name == name) return &c;
    if (engine == Engine::mysql)
        for (const auto& c : columns)
            if (same_ignoring_case(c.name, name)) return &c;
    return nullptr;
}

// Kinds that order and compare the same way as keys.
int key_class(ValueKind kind) {
    switch (kind) {
    case ValueKind::integer:
    case ValueKind::unsigned_integer:
    case ValueKind::decimal:
    case ValueKind::boolean: return 1;
    case ValueKind::text:
    case ValueKind::bytes: return 2;
    case ValueKind::datetime:
    case ValueKind::date: return 3;
    case ValueKind::time: return 4;
    default: return 0;
    }
}

void add_column(SidePlan& side, const ColumnInfo& c) {
    side.columns.push_back(c.name);
    side.kinds.push_back(c.kind);
    side.decimal_scales.push_back(c.decimal_scale);
    side.binary_collation.push_back(c.binary_collation);
    side.nullable.push_back(c.nullable);
    side.sql_types.push_back(c.sql_type);
}

// Marks the side's generated columns (by this side's names).
void mark_generated(Connection& conn, SidePlan& side) {
    const auto names = generated_columns(conn, side.table);
    if (names.empty()) return;
    side.generated.assign(side.columns.size(), false);
    for (std::size_t i = 0; i < side.columns.size(); ++i)
        side.generated[i] = std::find(names.begin(), names.end(), side.columns[i]) != names.end();
}

// Records the side's non-Unicode text columns (by this side's names). Key
// columns are left as they are read today: their order is the server's,
// which the merge follows.
void mark_charsets(Connection& conn, SidePlan& side) {
    const auto sets = non_unicode_columns(conn, side.table);
    if (sets.empty()) return;
    side.charsets.assign(side.columns.size(), std::string());
    for (std::size_t i = side.key.size(); i < side.columns.size(); ++i)
        for (const auto& [column, charset] : sets) {
            // The set's name goes into SQL (CONVERT ... USING gbk): the server's own names are [a-z0-9_].
            if (charset.empty() || !std::all_of(charset.begin(), charset.end(),
                                                [](unsigned char c) { return std::isalnum(c) || c == '_'; }))
                throw Error(Code::server, fmt::format("column {} of {}: unexpected character set name '{}'", column,
                                                      side.table, charset));
            if (column == side.columns[i] && side.kinds[i] == ValueKind::text) side.charsets[i] = charset;
        }
}

const std::string& charset_of(const SidePlan& side, std::size_t i) {
    static const std::string none;
    return i < side.charsets.size() ? side.charsets[i] : none;
}

// A table without a primary key is keyed by its unique index over NOT NULL
// columns (the fewest columns, then the first by name): NULLs are not
// unique, so an index with a nullable column does not name one row. Empty
// when there is none.
std::vector<std::string> unique_not_null_key(Connection& conn, const std::string& table,
                                             const std::vector<ColumnInfo>& columns) {
    const Value name = Value::text(table);
    std::map<std::string, std::vector<std::string>> indexes;
    for (const Row& row : conn.query(conn.dialect().unique_indexes_sql(), Params(&name, 1)))
        indexes[std::string(row.at(0).as_string())].push_back(std::string(row.at(1).as_string()));
    std::vector<std::string> best;
    std::string best_name;
    for (const auto& [index, cols] : indexes) {
        const bool not_null = std::all_of(cols.begin(), cols.end(), [&](const std::string& c) {
            return std::any_of(columns.begin(), columns.end(),
                               [&](const ColumnInfo& i) { return i.name == c && !i.nullable; });
        });
        if (not_null && (best.empty() || cols.size() < best.size())) {
            best = cols;
            best_name = index;
        }
    }
    if (!best.empty())
        log::get("plan")->info("{} has no primary key: keyed by its unique index {} ({})", table, best_name,
                               fmt::join(best, ", "));
    return best;
}

// The side's unique indexes other than the primary key, as positions in
// side.columns; an index over a column the plan does not carry is left out
// (its values are unknown to the fixer).
std::vector<std::vector<std::size_t>> unique_keys(Connection& conn, const SidePlan& side) {
    const Value name = Value::text(side.table);
    std::vector<std::vector<std::size_t>> out;
    std::string current;
    bool usable = false;
    std::vector<std::size_t> positions;
    auto finish = [&] {
        if (!current.empty() && usable && !positions.empty()) out.push_back(positions);
    };
    for (const Row& row : conn.query(conn.dialect().unique_indexes_sql(), Params(&name, 1))) {
        const std::string index = std::string(row.at(0).as_string());
        if (index != current) {
            finish();
            current = index;
            usable = true;
            positions.clear();
        }
        auto it = std::find(side.columns.begin(), side.columns.end(), row.at(1).as_string());
        if (it == side.columns.end())
            usable = false;
        else
            positions.push_back(static_cast<std::size_t>(it - side.columns.begin()));
    }
    finish();
    // An index on exactly the key columns is the key itself.
    std::vector<std::size_t> key_positions;
    for (std::size_t i = 0; i < side.key.size(); ++i) key_positions.push_back(i);
    out.erase(std::remove(out.begin(), out.end(), key_positions), out.end());
    return out;
}

}  // namespace

TablePlan plan_table(Connection& source, Connection& target, const TableConfig& config, IgnoredColumns ignored) {
    config.validate();
    TablePlan plan;
    plan.name = config.name;
    plan.source.table = config.name;
    plan.target.table = config.name;

    const auto src_cols = source.columns(config.name);
    const auto dst_cols = target.columns(config.name);
    const Engine src_engine = source.dialect().engine();
    const Engine dst_engine = target.dialect().engine();
    auto mapped = [&](const std::string& name) {
        auto it = config.column_map.find(name);
        return it == config.column_map.end() ? name : it->second;
    };
    for (const auto& [from, to] : config.column_map) {
        if (!find(src_cols, from, src_engine))
            throw Error(Code::config, fmt::format("column_map of {}: column '{}' not found in {}", config.name, from,
                                                  source.describe()));
        if (!find(dst_cols, to, dst_engine))
            throw Error(Code::config, fmt::format("column_map of {}: column '{}' not found in {}", config.name, to,
                                                  target.describe()));
    }
    // An ignored column may be on either side (a target-only column the
    // comparison is told to leave alone).
    for (const auto& c : config.ignore_columns)
        if (!find(src_cols, c, src_engine) && !find(dst_cols, c, dst_engine))
            throw Error(Code::config, fmt::format("ignore_columns of {}: column '{}' not found in {} or {}",
                                                  config.name, c, source.describe(), target.describe()));
    auto is_ignored = [&](const std::string& name) {
        return std::find(config.ignore_columns.begin(), config.ignore_columns.end(), name) !=
               config.ignore_columns.end();
    };

    // The key: configured, else the source's primary key in key order.
    std::vector<std::string> key = config.key;
    if (key.empty()) {
        std::vector<const ColumnInfo*> pk;
        for (const auto& c : src_cols)
            if (c.primary_key_position > 0) pk.push_back(&c);
        std::sort(pk.begin(), pk.end(),
                  [](auto* a, auto* b) { return a->primary_key_position < b->primary_key_position; });
        for (auto* c : pk) key.push_back(c->name);
        if (key.empty()) key = unique_not_null_key(source, config.name, src_cols);
        if (key.empty())
            throw Error(Code::config,
                        fmt::format("table {} has no primary key and no unique index over NOT NULL columns in {}: "
                                    "copying and validating need a key that names each row; add a primary key "
                                    "(or a unique index over NOT NULL columns), or configure `key` for it",
                                    config.name, source.describe()));
    }
    for (const auto& k : key) {
        const ColumnInfo* s = find(src_cols, k, src_engine);
        if (!s)
            throw Error(Code::config,
                        fmt::format("key column '{}' of {} not found in {}", k, config.name, source.describe()));
        const ColumnInfo* d = find(dst_cols, mapped(k), dst_engine);
        if (!d)
            throw Error(Code::config, fmt::format("key column '{}' of {} not found in {}", mapped(k), config.name,
                                                  target.describe()));
        if (key_class(s->kind) == 0 || key_class(s->kind) != key_class(d->kind))
            throw Error(Code::config,
                        fmt::format("key column '{}' of {} has types that cannot be compared as keys: {} ({}) in "
                                    "source, {} ({}) in target",
                                    k, config.name, s->sql_type, kind_name(s->kind), d->sql_type, kind_name(d->kind)));
        if (std::find(config.ignore_columns.begin(), config.ignore_columns.end(), k) != config.ignore_columns.end())
            throw Error(Code::config, fmt::format("key column '{}' of {} cannot be ignored", k, config.name));
        add_column(plan.source, *s);
        add_column(plan.target, *d);
        plan.source.key.push_back(s->name);
        plan.target.key.push_back(d->name);
    }
    // The compared columns: on both sides, not ignored, not already in the key.
    for (const auto& s : src_cols) {
        if (std::find(key.begin(), key.end(), s.name) != key.end()) continue;
        if (ignored == IgnoredColumns::left_out && is_ignored(s.name)) continue;
        const ColumnInfo* d = find(dst_cols, mapped(s.name), dst_engine);
        if (!d) {
            if (!is_ignored(s.name)) plan.source_only.push_back(s.name);
            continue;
        }
        add_column(plan.source, s);
        add_column(plan.target, *d);
    }
    // The target's columns nothing maps to, unless ignored.
    for (const auto& d : dst_cols) {
        if (is_ignored(d.name)) continue;
        bool matched = false;
        for (const auto& s : src_cols)
            if (find(dst_cols, mapped(s.name), dst_engine) == &d) matched = true;
        if (!matched) plan.target_only.push_back(d.name);
    }
    // The update-time column: configured, else utime when both sides have it.
    std::string update = config.update_column;
    if (update.empty() && find(src_cols, "utime", src_engine) && find(dst_cols, mapped("utime"), dst_engine))
        update = "utime";
    if (!update.empty()) {
        if (!find(src_cols, update, src_engine))
            throw Error(Code::config, fmt::format("update_column '{}' of {} not found in {}", update, config.name,
                                                  source.describe()));
        if (!find(dst_cols, mapped(update), dst_engine))
            throw Error(Code::config, fmt::format("update_column '{}' of {} not found in {}", mapped(update),
                                                  config.name, target.describe()));
        plan.source.update_column = update;
        plan.target.update_column = mapped(update);
    }
    auto is_json = [](const std::string& sql_type) {
        return same_ignoring_case(sql_type, "json") || same_ignoring_case(sql_type, "jsonb");
    };
    for (std::size_t i = 0; i < plan.source.columns.size(); ++i) {
        const std::string& a = plan.source.sql_types[i];
        const std::string& b = plan.target.sql_types[i];
        if ((is_json(a) || is_json(b)) && !(src_engine == dst_engine && same_ignoring_case(a, b)))
            plan.json_columns.push_back(i);
        const bool a_time = plan.source.kinds[i] == ValueKind::time, b_time = plan.target.kinds[i] == ValueKind::time;
        if ((a_time && starts_with_ignoring_case(b, "interval")) ||
            (b_time && starts_with_ignoring_case(a, "interval")))
            plan.duration_columns.push_back(i);
    }
    mark_generated(source, plan.source);
    mark_generated(target, plan.target);
    mark_charsets(source, plan.source);
    mark_charsets(target, plan.target);
    // The same non-Unicode set on two MySQL sides: the bytes are the value,
    // read, compared and written as they are stored.
    for (std::size_t i = 0; i < plan.source.columns.size(); ++i) {
        const std::string& set = charset_of(plan.source, i);
        if (!set.empty() && src_engine == dst_engine && set == charset_of(plan.target, i))
            plan.source.kinds[i] = plan.target.kinds[i] = ValueKind::bytes;
    }
    plan.source.unique_keys = unique_keys(source, plan.source);
    plan.target.unique_keys = unique_keys(target, plan.target);
    // A unique index that is the key itself (a table keyed by one) is no
    // other row's constraint.
    for (SidePlan* side : {&plan.source, &plan.target}) {
        std::vector<std::size_t> key_positions(side->key.size());
        for (std::size_t i = 0; i < key_positions.size(); ++i) key_positions[i] = i;
        auto& keys = side->unique_keys;
        keys.erase(std::remove_if(keys.begin(), keys.end(),
                                  [&](std::vector<std::size_t> u) {
                                      std::sort(u.begin(), u.end());
                                      return u == key_positions;
                                  }),
                   keys.end());
    }
    return plan;
}

bool has_generated(const SidePlan& side) {
    return std::find(side.generated.begin(), side.generated.end(), true) != side.generated.end();
}

std::vector<std::string> written_columns(const SidePlan& side) {
    if (!has_generated(side)) return side.columns;
    std::vector<std::string> out;
    for (std::size_t i = 0; i < side.columns.size(); ++i)
        if (!side.generated[i]) out.push_back(side.columns[i]);
    return out;
}

Row written_values(const SidePlan& side, const Row& row) {
    if (!has_generated(side)) return row;
    Row out;
    out.reserve(row.size());
    for (std::size_t i = 0; i < row.size(); ++i)
        if (i >= side.generated.size() || !side.generated[i]) out.push_back(row[i]);
    return out;
}

std::vector<std::string> column_findings(const TablePlan& plan) {
    std::vector<std::string> out;
    for (const auto& c : plan.source_only) out.push_back(fmt::format("column '{}' is in the source only", c));
    for (const auto& c : plan.target_only) out.push_back(fmt::format("column '{}' is in the target only", c));
    return out;
}

void require_matched_columns(const TablePlan& plan, std::string_view what) {
    const auto findings = column_findings(plan);
    if (findings.empty()) return;
    throw Error(Code::config,
                fmt::format("{} of {} refused: {}; add the column to the other side, map it (column_map) or leave "
                            "it out (ignore_columns)",
                            what, plan.name, fmt::join(findings, ", ")));
}

std::optional<std::int64_t> move_identity_past_rows(Connection& conn, const SidePlan& side) {
    if (side.key.size() != 1 || side.kinds.empty() || side.kinds[0] != ValueKind::integer) return std::nullopt;
    std::optional<std::int64_t> moved;
    for (const auto& sql : conn.dialect().sync_identity(side.table, side.key[0]))
        for (const Row& r : conn.query(sql))
            if (!r.empty() && !r[0].is_null()) moved = r[0].as_int();
    return moved;
}

std::optional<SidePlan> identity_plan(Connection& conn, const std::string& table) {
    const auto cols = conn.columns(table);
    const ColumnInfo* key = nullptr;
    for (const auto& c : cols) {
        if (c.primary_key_position == 0) continue;
        if (key) return std::nullopt;  // a composite key has no id generator to follow
        key = &c;
    }
    if (!key || key->kind != ValueKind::integer) return std::nullopt;
    SidePlan side;
    side.table = table;
    side.columns = {key->name};
    side.kinds = {key->kind};
    side.key = {key->name};
    return side;
}

Row key_of(const Row& row, std::size_t key_size) {
    return Row(row.begin(), row.begin() + static_cast<std::ptrdiff_t>(key_size));
}

void require_carried(const SidePlan& side, const Row& row) {
    for (std::size_t i = 0; i < side.charsets.size() && i < row.size(); ++i) {
        if (side.charsets[i].empty() || side.kinds[i] != ValueKind::text || row[i].kind() != ValueKind::text) continue;
        const std::string_view v = row[i].as_string();
        if (!v.starts_with(k_no_unicode_mark)) continue;
        throw Error(Code::data,
                    fmt::format("column {}: its {} text (bytes {}) holds a character Unicode has no form for, which "
                                "the target would get as '?': set the row's value in the source, or migrate to a "
                                "MySQL column of the same character set, which takes the bytes as they are",
                                side.columns[i], side.charsets[i], v.substr(k_no_unicode_mark.size(), 64)));
    }
}

}  // namespace webook
