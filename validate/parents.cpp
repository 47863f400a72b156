#include "validate/parents.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/db/catalog.h"
#include "core/db/dialect.h"

namespace webook {
namespace {

// `names` (source names of `side`'s table) as the checked side calls them;
// nullopt when one is not among the plan's columns.
std::optional<std::vector<std::string>> on_checked_side(const TablePlan& plan, const std::vector<std::string>& names,
                                                        bool checked_is_target) {
    std::vector<std::string> out;
    for (const auto& name : names) {
        const auto& cols = plan.source.columns;
        const auto it = std::find(cols.begin(), cols.end(), name);
        if (it == cols.end()) return std::nullopt;
        const auto i = static_cast<std::size_t>(it - cols.begin());
        out.push_back(checked_is_target ? plan.target.columns[i] : name);
    }
    return out;
}

}  // namespace

std::vector<std::string> parent_findings(SideConnections conns, const TablePlan& plan,
                                         const std::vector<TablePlan>& plans, BaseSide base) {
    const bool checked_is_target = base != BaseSide::dst;
    Connection& checked = checked_is_target ? conns.target : conns.source;
    const std::string_view side_name = checked_is_target ? "target" : "source";
    std::vector<std::string> out;
    const std::vector<std::string> parents = foreign_key_parents(conns.source, plan.source.table);
    if (parents.empty()) return out;  // the common case: one small catalog query
    const Dialect& d = checked.dialect();
    const TableDefinition def = read_table_definition(conns.source, plan.source.table);
    for (const CatalogForeignKey& fk : def.foreign_keys) {
        if (fk.ref_table == plan.source.table) continue;
        const auto child_cols = on_checked_side(plan, fk.columns, checked_is_target);
        if (!child_cols) continue;
        std::string parent_table = fk.ref_table;
        std::vector<std::string> parent_cols = fk.ref_columns;
        for (const TablePlan& p : plans) {
            if (p.source.table != fk.ref_table) continue;
            parent_table = checked_is_target ? p.target.table : p.source.table;
            if (auto mapped = on_checked_side(p, fk.ref_columns, checked_is_target)) parent_cols = *mapped;
        }
        if (!checked.table_exists(parent_table)) {
            out.push_back(fmt::format("parent {} is missing on the {}: {} references it by ({})", parent_table,
                                      side_name, plan.name, fmt::join(fk.columns, ", ")));
            continue;
        }
        std::vector<std::string> present, match;
        for (std::size_t i = 0; i < child_cols->size() && i < parent_cols.size(); ++i) {
            present.push_back(fmt::format("c.{} IS NOT NULL", d.quote((*child_cols)[i])));
            match.push_back(fmt::format("p.{} = c.{}", d.quote(parent_cols[i]), d.quote((*child_cols)[i])));
        }
        const std::string sql =
            fmt::format("SELECT COUNT(*) FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
                        d.quote(checked_is_target ? plan.target.table : plan.source.table), fmt::join(present, " AND "),
                        d.quote(parent_table), fmt::join(match, " AND "));
        const auto row = checked.query_one(sql);
        const std::int64_t orphans = row ? row->at(0).as_int() : 0;
        if (orphans > 0)
            out.push_back(
                fmt::format("parent {} is incomplete on the {}: {} row{} of {} reference{} ({}) values it "
                            "does not hold",
                            parent_table, side_name, orphans, orphans == 1 ? "" : "s", plan.name,
                            orphans == 1 ? "s" : "", fmt::join(*child_cols, ", ")));
    }
    return out;
}

}  // namespace webook
