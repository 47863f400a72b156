// A table's whole definition as the server's catalog describes it: what
// `migrate schema` needs to create the same table on another server, and to
// compare a table that exists already. Connection::columns() is the small
// view the copy and the validators read values by; this is the full one
// (defaults, generated columns, every index, checks, foreign keys).
//
// Read through Connection::query() with each engine's catalog queries
// (MariaDB/MySQL information_schema and SHOW CREATE TABLE, PostgreSQL
// pg_catalog); nothing is written.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace webook {

class Connection;

struct CatalogColumn {
    std::string name;
    // MySQL: DATA_TYPE ("int", "varchar", "enum") and COLUMN_TYPE
    // ("int(10) unsigned", "enum('a','b')"). PostgreSQL: the type's name
    // ("int4", "varchar", a user enum's name) and format_type()
    // ("integer", "character varying(64)").
    std::string data_type;
    std::string column_type;
    bool nullable = true;
    // The default as the server prints it (MySQL 10.2+: literals quoted,
    // "NULL" for an explicit NULL default; PostgreSQL: pg_get_expr()).
    std::optional<std::string> default_expr;
    bool auto_increment = false;  // MySQL AUTO_INCREMENT; PostgreSQL identity or serial sequence
    std::string generated_expr;   // "" = not generated
    bool generated_stored = false;
    std::string on_update;  // MySQL "ON UPDATE current_timestamp()" clause text, "" = none
    std::string charset;    // MySQL character set of text columns, "" otherwise
    std::string collation;  // the column's collation, "" = none / the default
    int char_length = -1;   // characters of char/varchar, -1 otherwise
    int numeric_precision = -1;
    int numeric_scale = -1;
    int datetime_precision = -1;
    bool is_unsigned = false;
    std::vector<std::string> labels;  // ENUM/SET members, PostgreSQL enum labels
    char pg_typtype = 0;              // PostgreSQL pg_type.typtype: b base, e enum, d domain, c composite...
    bool pg_array = false;            // PostgreSQL: an array type
};

struct CatalogIndexPart {
    std::string column;  // "" for an expression
    int prefix = 0;      // MySQL prefix length in characters/bytes, 0 = whole column
    bool descending = false;
};

struct CatalogIndex {
    std::string name;
    std::vector<CatalogIndexPart> parts;
    bool unique = false;
    std::string kind;  // MySQL INDEX_TYPE (BTREE, HASH, FULLTEXT, SPATIAL); PostgreSQL access method
    // PostgreSQL: pg_get_indexdef(); an expression or partial index has it
    // only. MySQL: "".
    std::string definition;
    bool expression_or_partial = false;
};

struct CatalogCheck {
    std::string name;
    std::string expression;  // MySQL CHECK_CLAUSE; PostgreSQL pg_get_constraintdef() ("CHECK (...)")
};

struct CatalogForeignKey {
    std::string name;
    std::vector<std::string> columns;
    std::string ref_table;
    std::vector<std::string> ref_columns;
    std::string on_update = "NO ACTION";
    std::string on_delete = "NO ACTION";
};

struct TableDefinition {
    std::string name;
    std::vector<CatalogColumn> columns;  // in ordinal order
    std::vector<std::string> primary_key;
    std::vector<CatalogIndex> indexes;  // every index but the primary key's
    std::vector<CatalogCheck> checks;
    std::vector<CatalogForeignKey> foreign_keys;
    std::string create_sql;  // MySQL: SHOW CREATE TABLE; PostgreSQL: ""

    const CatalogColumn* column(std::string_view name) const;
};

// The definition of `table`. Throws Error(Code::config) "table 'x' not
// found in <dsn>" when it does not exist.
TableDefinition read_table_definition(Connection& conn, std::string_view table);

// The generated columns of `table` (MySQL VIRTUAL/STORED, PostgreSQL
// STORED): the ones no write may set. One small catalog query.
std::vector<std::string> generated_columns(Connection& conn, std::string_view table);

// The text columns of `table` whose character set is not Unicode, with
// their set ("gbk", "latin1", ...), in column order: MySQL's; none on
// PostgreSQL (whose server converts to the client's UTF-8 or fails).
std::vector<std::pair<std::string, std::string>> non_unicode_columns(Connection& conn, std::string_view table);

// The tables `table`'s foreign keys reference, by name, itself left out.
// One small catalog query.
std::vector<std::string> foreign_key_parents(Connection& conn, std::string_view table);

// The tables whose foreign keys reference `table`, by name, itself left out.
// One small catalog query.
std::vector<std::string> foreign_key_children(Connection& conn, std::string_view table);

// The base tables of the connection's database (MySQL) or search path's
// first schema (PostgreSQL), by name, without webookctl's own
// (webookctl_*).
std::vector<std::string> list_tables(Connection& conn);

// ENUM('a','b''c') / SET(...) members as MySQL's COLUMN_TYPE writes them.
std::vector<std::string> parse_mysql_labels(std::string_view column_type);

}  // namespace webook
