#include "validate/checksum.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/dialect.h"

namespace webook {

bool checksum_supported(const TablePlan& plan, std::string* why) {
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
    std::vector<std::string> texts, cols;
    for (std::size_t i = 0; i < side.columns.size(); ++i) {
        std::string q = d.quote(side.columns[i]);
        texts.push_back(d.canonical_text(q, side.kinds[i], side.decimal_scales[i]));
        cols.push_back(std::move(q));
    }
    BoundSql q;
    q.params = std::move(filter_params);
    const std::string where = where_clause(d, side, filter, bounds, q.params);
    q.sql = fmt::format("SELECT COUNT(*), SUM({}), SUM({}) FROM (SELECT {} AS h FROM {}{}) chunk", d.hex32("h", 1),
                        d.hex32("h", 9), d.row_md5(texts, cols), d.quote(side.table), where);
    return q;
}

ChunkChecksum run_checksum(Connection& conn, const SidePlan& side, const KeyBounds& bounds, std::string_view filter,
                           std::vector<Value> filter_params) {
    BoundSql q = checksum_query(conn.dialect(), side, bounds, filter, std::move(filter_params));
    auto row = conn.query_one(q.sql, q.params);
    ChunkChecksum c;
    if (!row) return c;
    c.rows = (*row)[0].as_int();
    c.sum_high = (*row)[1].is_null() ? "0" : (*row)[1].canonical();
    c.sum_low = (*row)[2].is_null() ? "0" : (*row)[2].canonical();
    return c;
}

}  // namespace webook
