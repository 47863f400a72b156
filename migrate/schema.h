// webookctl migrate schema: the target's tables created from the source's
// definitions, or an existing target table compared with what the source's
// definition maps to.
//
// Same-engine pairs copy the definition as it is (MariaDB's SHOW CREATE
// TABLE; PostgreSQL's catalog), MariaDB/MySQL -> PostgreSQL maps each type by
// the table in README.md ("Type mapping"): exactly, or with a CHECK that
// keeps the source's domain, or refused naming table, column and type. A
// column's mapping can be overridden in the config ([[tables]] types). What
// the copy needs from the target (every column, the primary key, the unique
// indexes) is created first; foreign keys are printed as statements to run
// after the copy (a copy loads tables in any order and defers indexes).
//
// Nothing is ever dropped or altered: an existing table is only compared.
#pragma once

#include <string>
#include <vector>

#include "core/db/catalog.h"
#include "core/db/dsn.h"
#include "core/migration/config.h"

namespace webook {

class Connection;

// What the target's catalog should say of one column: its type as the
// target prints it (format_type() / COLUMN_TYPE) and nullability.
struct PlannedColumn {
    std::string name;
    std::string type;
    bool nullable = true;
};

struct TableSchema {
    std::string table;
    // Why the table cannot be created exactly ("column g: geometry has no
    // exact PostgreSQL type; ..."); empty when it can. Nothing is written
    // for any table while one is refused.
    std::string refusal;
    std::vector<std::string> statements;  // CREATE TYPE / TABLE / INDEX, in order; each idempotent
    std::vector<std::string> after_copy;  // foreign keys: ALTER TABLE ... ADD CONSTRAINT
    std::vector<std::string> notes;       // every mapping that is not the same type, and why
    std::vector<PlannedColumn> columns;   // target names
    std::vector<std::string> primary_key;
    std::vector<std::vector<std::string>> unique_indexes;  // column lists
    std::vector<std::vector<std::string>> plain_indexes;
    // Indexes found by their target name (over expressions: a prefix), and
    // whether each is unique.
    std::vector<std::pair<std::string, bool>> named_indexes;
};

// The target table for `source` (read from the source). Pure: reads nothing.
TableSchema plan_schema(const TableDefinition& source, Engine source_engine, Engine target_engine,
                        const TableConfig& config);

// What differs between the plan and a target table that exists: each entry
// one finding ("column x: integer, the source's maps to bigint"); where the
// target only holds more (a nullable column the source keeps NOT NULL, a
// missing plain index), a note is added to `notes` instead.
std::vector<std::string> compare_schema(const TableSchema& plan, const TableDefinition& target,
                                        std::vector<std::string>& notes);

enum class SchemaState { created, would_create, compatible, differs, refused };
std::string_view schema_state_name(SchemaState s);

struct SchemaReport {
    TableSchema plan;
    SchemaState state = SchemaState::created;
    std::vector<std::string> differences;
};

// Plans every table, then (unless dry_run or a table is refused) creates the
// missing ones on the target; an existing table is compared instead. A
// table's statements run in one go; PostgreSQL's in one transaction.
std::vector<SchemaReport> migrate_schema(Connection& source, Connection& target, const std::vector<TableConfig>& tables,
                                         bool dry_run);

// Normalizes a type's spelling for comparison: lower case, PostgreSQL's
// aliases to format_type()'s names ("int4" -> "integer", "varchar(5)" ->
// "character varying(5)", "timestamptz" -> "timestamp with time zone").
std::string normalize_type(std::string_view type);

}  // namespace webook
