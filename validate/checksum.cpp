#include "validate/checksum.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/dialect.h"

namespace webook {

bool checksum_supported(const TablePlan& plan, std::string* why) {
    // The servers print JSON differently; only the rows, canonicalized,
    // compare it as JSON.
    if (!plan.json_columns.empty()) {
        if (why)
            *why =
                fmt::format("column {} is JSON ({} vs {}), compared as JSON", plan.source.columns[plan.json_columns[0]],
                            plan.source.sql_types[plan.json_columns[0]], plan.target.sql_types[plan.json_columns[0]]);
        return false;
    }
    if (!plan.duration_columns.empty()) {
        if (why)
            *why = fmt::format(
                "column {} is a duration ({} vs {}), compared as one", plan.source.columns[plan.duration_columns[0]],
                plan.source.sql_types[plan.duration_columns[0]], plan.target.sql_types[plan.duration_columns[0]]);
        return false;
    }
    for (const SidePlan* side : {&plan.source, &plan.target}) {
        for (std::size_t i = 0; i < side->columns.size(); ++i) {
            if (side->kinds[i] == ValueKind::real) {
                if (why) *why = fmt::format("column {} is floating-point", side->columns[i]);
                return false;
            }
        }
    }
    return true;
}

BoundSql checksum_query(const Dialect& d, const SidePlan& side, const KeyBounds& bounds, std::string_view filter,
                        std::vector<Value> filter_params) {
    std::vector<Dialect::HashedColumn> columns;
    for (std::size_t i = 0; i < side.columns.size(); ++i)
        columns.push_back({column_expr(d, side, i), side.kinds[i], side.decimal_scales[i],
                           i < side.nullable.size() ? bool(side.nullable[i]) : true,
                           i < side.sql_types.size() ? side.sql_types[i] : std::string()});
    BoundSql q;
    q.params = std::move(filter_params);
    const std::string where = where_clause(d, side, filter, bounds, q.params);
    q.sql = fmt::format("SELECT COUNT(*), BIT_XOR({}) FROM {}{}", d.row_hash64(columns), d.quote(side.table), where);
    return q;
}

ChunkChecksum run_checksum(Connection& conn, const SidePlan& side, const KeyBounds& bounds, std::string_view filter,
                           std::vector<Value> filter_params) {
    BoundSql q = checksum_query(conn.dialect(), side, bounds, filter, std::move(filter_params));
    auto row = conn.query_one(q.sql, q.params);
    ChunkChecksum c;
    if (!row) return c;
    c.rows = (*row)[0].as_int();
    // MariaDB's BIT_XOR is unsigned, PostgreSQL's bit_xor signed (NULL for no rows): the same 64 bits.
    if (const Value& h = (*row)[1]; !h.is_null()) {
        const std::string text = h.canonical();
        c.hash = text.starts_with('-') ? static_cast<std::uint64_t>(std::stoll(text)) : std::stoull(text);
    }
    return c;
}

}  // namespace webook
