// Every SQL difference between MariaDB/MySQL and PostgreSQL lives here:
// identifier quoting, placeholders, upserts, type names, binary key order,
// locking clauses and DDL. Code above core/ builds SQL only through a Dialect.
//
// Dialects are stateless singletons; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/db/dsn.h"
#include "core/db/sql_text.h"
#include "core/db/value.h"

namespace webook {

// Logical column types of the webook schema; each dialect names them.
enum class ColumnType {
    id,  // BIGINT AUTO_INCREMENT / BIGSERIAL, the primary key
    bigint,
    integer,
    smallint,
    boolean,   // TINYINT(1) / boolean
    varchar,   // VARCHAR(size)
    text,      // TEXT / text (up to 64 KiB on MySQL)
    longtext,  // LONGTEXT / text
    decimal,   // DECIMAL(precision, scale) / numeric(p, s)
    real,      // DOUBLE / double precision
    datetime,  // DATETIME(6) / timestamp(6) without time zone, UTC by convention
    date,      // DATE / date
    bytes,     // BLOB / bytea
};

struct ColumnDef {
    std::string name;
    ColumnType type = ColumnType::bigint;
    int size = 0;   // varchar length, decimal precision
    int scale = 0;  // decimal scale
    bool nullable = false;
    std::string default_sql;  // raw DEFAULT expression written by us, "" = none
};

struct IndexDef {
    std::string name;
    std::vector<std::string> columns;
    bool unique = false;
};

struct TableDef {
    std::string name;
    std::vector<ColumnDef> columns;
    std::vector<std::string> primary_key;
    std::vector<IndexDef> indexes;
};

class Connection;

// A secondary index as the engine describes it (see Dialect::secondary_indexes).
struct IndexDefinition {
    std::string name;
    std::string definition;  // MySQL: the KEY clause of SHOW CREATE TABLE; PostgreSQL: pg_get_indexdef()

    bool operator==(const IndexDefinition& o) const { return name == o.name && definition == o.definition; }
};

class Dialect {
public:
    virtual ~Dialect() = default;

    virtual Engine engine() const = 0;

    // Validates an identifier (valid_identifier) and returns it quoted, the
    // quote character doubled inside: any name the servers accept -- mixed
    // case, '-', '$', spaces, quotes, non-ASCII -- is one identifier, never
    // SQL. Throws Error(Code::config) naming the bad identifier.
    virtual std::string quote(std::string_view identifier) const = 0;
    // "a, b, c" with every name quoted.
    std::string quote_list(const std::vector<std::string>& identifiers) const;

    // The n-th (1-based) parameter marker: "?" or "$n".
    virtual std::string placeholder(int n) const = 0;
    // "(p1, p2, ...)" of `count` markers starting at `first`.
    std::string placeholders(int first, int count) const;

    // What this engine's lexer skips (strings, identifiers, comments) and how
    // it writes markers: for core/db/sql_text.h.
    virtual const SqlLexicon& lexicon() const = 0;
    // `v` as a literal meaning what the bound parameter means: MySQL text and
    // bytes as hex (_utf8mb4 X'..', X'..': nothing to escape), numbers as
    // digits, date/time kinds as quoted canonical text; PostgreSQL every value
    // as an untyped E'...' string (what a bound text parameter is, resolved by
    // context). NULL as NULL. nullopt when there is no exact literal (a MySQL
    // REAL): bind it instead.
    virtual std::optional<std::string> literal(const Value& v) const = 0;
    // `sql` with each marker replaced by the literal of its parameter, so the
    // statement can run unprepared (streaming); nullopt -- bind instead --
    // when a value has no literal or the markers do not match `params`.
    std::optional<std::string> inline_params(std::string_view sql, std::span<const Value> params) const;

    // INSERT ... that replaces the row with the same key:
    // ON DUPLICATE KEY UPDATE / ON CONFLICT (key) DO UPDATE. One row of
    // placeholders per row, `rows` rows.
    virtual std::string upsert(std::string_view table, const std::vector<std::string>& columns,
                               const std::vector<std::string>& key_columns, int rows = 1) const = 0;
    // INSERT that skips rows whose key already exists (INSERT IGNORE /
    // ON CONFLICT DO NOTHING).
    virtual std::string insert_ignore(std::string_view table, const std::vector<std::string>& columns,
                                      int rows = 1) const = 0;

    // `expr` compared and ordered byte-wise whatever the column collation:
    // `CAST(expr AS BINARY)` / `expr COLLATE "C"` for text keys.
    virtual std::string binary(std::string_view quoted_expr) const = 0;

    // Row locking suffixes for SELECT.
    virtual std::string_view for_update() const { return " FOR UPDATE"; }
    virtual std::string_view for_share() const = 0;

    // Current time with microseconds, in UTC.
    virtual std::string_view now() const = 0;

    // The type name of a column for CREATE TABLE.
    virtual std::string type_name(const ColumnDef& column) const = 0;
    // CREATE TABLE IF NOT EXISTS and its indexes; idempotent statements.
    virtual std::vector<std::string> create_table(const TableDef& table) const = 0;
    // Empties a table fast (TRUNCATE).
    virtual std::string truncate(std::string_view table) const = 0;
    // Statements that move an identity column's generator past the rows
    // written with explicit ids (PostgreSQL sequences; nothing on MySQL,
    // whose AUTO_INCREMENT follows explicit ids by itself). Forward only:
    // never below where it stands. The column must be an integer.
    virtual std::vector<std::string> sync_identity(std::string_view table, std::string_view column) const = 0;

    // INSERT one row, or on a conflict over `conflict_key` add `adds` (column,
    // SQL delta expression over placeholders) to the stored values and set
    // `sets` from the inserted row: the atomic counter upsert. The placeholders
    // are those of the inserted row, in `columns` order, then the deltas'.
    virtual std::string upsert_add(std::string_view table, const std::vector<std::string>& columns,
                                   const std::vector<std::string>& conflict_key,
                                   const std::vector<std::pair<std::string, std::string>>& adds,
                                   const std::vector<std::string>& sets) const = 0;

    // A statement that lets this session keep one streamed result open while
    // its reader pauses for a long time (MySQL gives up sending after
    // net_write_timeout, 60 s); empty when nothing is needed.
    virtual std::string_view long_stream_session() const = 0;

    // Sets how long this session waits for a row lock before failing
    // (MySQL counts whole seconds: rounded up, at least 1).
    virtual std::string lock_timeout(std::chrono::milliseconds wait) const = 0;

    // Inside a transaction, before it takes a row FOR UPDATE that many
    // sessions read FOR SHARE: a statement that makes sessions arriving later
    // queue behind this one. PostgreSQL lets a new FOR SHARE overtake a
    // waiting FOR UPDATE, so under steady readers the writer would wait
    // forever (each lock_timeout bounds one wait, not the total): an EXCLUSIVE
    // table lock (which plain reads still pass) makes them queue. InnoDB
    // already queues them: empty.
    virtual std::string queue_later_lockers(std::string_view table) const = 0;

    // -- Checksums computed inside the database ------------------------------
    // The canonical text of a column (the SQL twin of Value::canonical(), so
    // equal data gives equal text on both engines; bytes as lowercase hex).
    // `sql_type` (the server's, e.g. "datetime(6)"; may be empty) lets an
    // engine skip a conversion its own text already matches. Throws
    // Error(Code::config) for kinds without an exact text form (real).
    virtual std::string canonical_text(std::string_view quoted, ValueKind kind, int decimal_scale,
                                       std::string_view sql_type = {}) const = 0;

    // A column as a row hash reads it.
    struct HashedColumn {
        std::string quoted;  // the quoted name
        ValueKind kind = ValueKind::text;
        int decimal_scale = -1;
        bool nullable = true;
        std::string sql_type;  // the server's type text; may be empty
    };
    // The row's 64-bit hash: the first 16 hex digits of MD5 of its columns'
    // canonical texts joined by '|', as a 64-bit integer (signed on
    // PostgreSQL: compare the bits). The form is chosen per column so that
    // no two different rows share an input and nothing is computed twice:
    // only text is length-prefixed ("5:hello") -- every other kind's text has
    // no '|' in its alphabet -- and only a column that may be NULL is
    // marked, 'N' (no canonical text is 'N' or starts with it). Equal rows
    // hash equal across engines whether or not each side's column is
    // nullable (the mark only replaces a NULL).
    std::string row_hash64(const std::vector<HashedColumn>& columns) const;

    // The engine pieces row_hash64() is made of.
    virtual std::string byte_length(std::string_view expr) const = 0;
    // A text-kind column as an operand of byte_length() and concatenation:
    // itself, or its text form where the column's type has neither.
    virtual std::string text_operand(std::string_view quoted, std::string_view) const { return std::string(quoted); }
    virtual std::string concat(const std::vector<std::string>& parts) const = 0;  // NULL if any is NULL
    virtual std::string hex64(std::string_view hex_expr) const = 0;               // 16 hex digits -> 64-bit integer

    // -- Load --------------------------------------------------------------
    // One integer: how many sessions are running statements right now
    // (Threads_running / active backends), for --max-load.
    virtual std::string running_sessions_sql() const = 0;
    // The same where running_sessions_sql() is refused: MySQL 8 has no
    // information_schema.GLOBAL_STATUS, only performance_schema's (which
    // MariaDB leaves empty unless performance_schema is on). "" when none.
    virtual std::string running_sessions_fallback_sql() const { return {}; }

    // One integer, the server's estimate of the rows of the table named by
    // the one parameter (for progress): InnoDB's TABLE_ROWS, pg_class's
    // reltuples (-1 before the first ANALYZE). No row when there is none.
    virtual std::string row_estimate_sql() const = 0;

    // -- Introspection -----------------------------------------------------
    // Rows (index name, column name) of the unique indexes of the table named
    // by placeholder 1, other than the primary key, in index then column
    // order. Partial and expression indexes are left out.
    virtual std::string unique_indexes_sql() const = 0;

    // The pure pieces of secondary_indexes() below. A query counting what
    // makes the table keep every index (MySQL: foreign keys in either
    // direction; parameters 1 and 2 the table name), "" when there is none;
    // the statement listing the table's indexes (parameter 1, if any, the
    // table name); and its rows as definitions.
    virtual std::string index_keeping_sql() const = 0;
    virtual std::string index_listing_sql(std::string_view table, bool& takes_name) const = 0;
    virtual std::vector<IndexDefinition> parse_index_listing(const std::vector<Row>& rows) const = 0;
    virtual std::string drop_index(std::string_view table, const IndexDefinition& index) const = 0;
    // Statements rebuilding `indexes` of `table`; they may run at once on
    // separate connections (one ALTER TABLE on MySQL, one CREATE INDEX each
    // on PostgreSQL).
    virtual std::vector<std::string> create_indexes(std::string_view table,
                                                    const std::vector<IndexDefinition>& indexes) const = 0;
};

// Secondary indexes a bulk load may drop and rebuild afterwards: every index
// but the primary key, except those a constraint needs (foreign keys; on
// MySQL a table with foreign keys in either direction keeps them all).
// `definition` is engine text for Dialect::create_indexes(). Reads the
// catalog through `conn` with its dialect's queries (the Dialect itself
// runs nothing).
std::vector<IndexDefinition> secondary_indexes(Connection& conn, std::string_view table);

const Dialect& dialect_for(Engine engine);

// True for 1 to 63 bytes of valid UTF-8 without control characters: the
// identifiers we accept from config, flags and events (quoted everywhere).
// 63: PostgreSQL truncates longer names silently, so one would name another
// table.
bool valid_identifier(std::string_view identifier);

}  // namespace webook
