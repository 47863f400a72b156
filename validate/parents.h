// Whether the tables a validated table's foreign keys reference are complete
// on the copy (issue 14 part 5): during a migration the copy's foreign keys
// are created after the copy, so a child table can compare equal row for
// row while rows it references are missing from its parent there.
#pragma once

#include <string>
#include <vector>

#include "core/migration/migration_mode.h"
#include "core/migration/shard.h"
#include "core/migration/table_plan.h"

namespace webook {

// One line per foreign key of `plan`'s table (as the source defines it)
// whose values on the side that is not `base` name no row of the parent
// there, e.g. "parent customers is incomplete on the target: 3 rows of
// invoices reference (customer) values it does not hold"; also when the
// parent table is missing on that side. Columns are mapped through `plan`
// and, for a parent among `plans`, through that parent's plan. A foreign
// key over an ignored column, or of the table to itself (its own merge
// finds those rows), is not checked. One anti-join per foreign key on that
// side; nothing for a table without foreign keys.
std::vector<std::string> parent_findings(SideConnections conns, const TablePlan& plan,
                                         const std::vector<TablePlan>& plans, BaseSide base);

}  // namespace webook
