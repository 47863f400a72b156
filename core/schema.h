// The webook schema (SPEC.md "Platform backend") and the tool's own control
// tables, described once as logical TableDefs; each Dialect renders them.
#pragma once

#include <string>
#include <vector>

#include "core/dialect.h"

namespace webook {

class Connection;

// The tool's own tables.
inline constexpr const char* k_control_table = "webookctl_control";         // migration mode etc.
inline constexpr const char* k_checkpoint_table = "webookctl_checkpoints";  // copy/validate positions

// Platform tables in dependency order, then the control tables.
const std::vector<TableDef>& webook_tables();
const TableDef* find_table_def(std::string_view name);

struct InitResult {
    std::vector<std::string> created;   // tables that did not exist before
    std::vector<std::string> existing;  // tables left as they were
};

// Creates every table and index that does not exist yet; idempotent.
InitResult init_schema(Connection& conn);

}  // namespace webook
