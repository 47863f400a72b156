// The webook schema (the platform's tables: README "Platform backend"),
// described once as logical TableDefs; each Dialect renders them.
#pragma once

#include <string>
#include <vector>

#include "core/db/dialect.h"

namespace webook {

class Connection;

// Platform tables in dependency order, then the tool's control tables
// (core/migration/checkpoint.h control_tables()).
const std::vector<TableDef>& webook_tables();
const TableDef* find_table_def(std::string_view name);

struct InitResult {
    std::vector<std::string> created;   // tables that did not exist before
    std::vector<std::string> existing;  // tables left as they were
};

// Creates every table and index that does not exist yet; idempotent.
InitResult init_schema(Connection& conn);

}  // namespace webook
