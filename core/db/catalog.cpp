// The catalog queries of read_table_definition() and list_tables(), one set
// per engine.
#include "core/db/catalog.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"

namespace webook {
namespace {

std::string str(const Value& v) {
    return v.is_null() ? std::string() : v.canonical();
}

int num(const Value& v) {
    return v.is_null() ? -1 : static_cast<int>(v.as_int());
}

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

// -- MariaDB / MySQL ----------------------------------------------------------

void read_mysql(Connection& conn, TableDefinition& def) {
    const Value name = Value::text(def.name);
    const Params p(&name, 1);
    for (const Row& r : conn.query("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, "
                                   "GENERATION_EXPRESSION, CHARACTER_SET_NAME, COLLATION_NAME, "
                                   "CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION "
                                   "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
                                   "TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
                                   p)) {
        CatalogColumn c;
        c.name = str(r.at(0));
        c.data_type = lower(str(r.at(1)));
        c.column_type = str(r.at(2));
        c.nullable = str(r.at(3)) == "YES";
        if (!r.at(4).is_null()) c.default_expr = str(r.at(4));
        const std::string extra = lower(str(r.at(5)));
        c.auto_increment = extra.find("auto_increment") != std::string::npos;
        if (extra.find("generated") != std::string::npos && extra != "default_generated") {
            c.generated_expr = str(r.at(6));
            c.generated_stored = extra.find("stored") != std::string::npos;
            c.default_expr.reset();
        }
        if (auto at = extra.find("on update "); at != std::string::npos) c.on_update = extra.substr(at);
        c.charset = str(r.at(7));
        c.collation = str(r.at(8));
        if (c.data_type == "char" || c.data_type == "varchar") c.char_length = num(r.at(9));
        c.numeric_precision = num(r.at(10));
        c.numeric_scale = num(r.at(11));
        c.datetime_precision = num(r.at(12));
        c.is_unsigned = lower(c.column_type).find(" unsigned") != std::string::npos;
        if (c.data_type == "enum" || c.data_type == "set") c.labels = parse_mysql_labels(c.column_type);
        def.columns.push_back(std::move(c));
    }
    if (def.columns.empty())
        throw Error(Code::config, fmt::format("table '{}' not found in {}", def.name, conn.describe()));

    std::map<std::string, std::size_t> at;
    for (const Row& r : conn.query("SELECT INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, COLLATION, INDEX_TYPE "
                                   "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND "
                                   "TABLE_NAME = ? ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
                                   p)) {
        const std::string index = str(r.at(0));
        if (index == "PRIMARY") {
            def.primary_key.push_back(str(r.at(2)));
            continue;
        }
        auto [it, fresh] = at.emplace(index, def.indexes.size());
        if (fresh) {
            CatalogIndex ix;
            ix.name = index;
            ix.unique = r.at(1).as_int() == 0;
            ix.kind = str(r.at(5));
            def.indexes.push_back(std::move(ix));
        }
        CatalogIndexPart part;
        part.column = str(r.at(2));
        part.prefix = r.at(3).is_null() ? 0 : num(r.at(3));
        part.descending = str(r.at(4)) == "D";
        def.indexes[it->second].parts.push_back(std::move(part));
    }

    for (const Row& r : conn.query("SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
                                   "WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY CONSTRAINT_NAME",
                                   p))
        def.checks.push_back({str(r.at(0)), str(r.at(1))});

    std::map<std::string, std::size_t> fk_at;
    for (const Row& r : conn.query("SELECT k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, "
                                   "k.REFERENCED_COLUMN_NAME, rc.UPDATE_RULE, rc.DELETE_RULE "
                                   "FROM information_schema.KEY_COLUMN_USAGE k "
                                   "JOIN information_schema.REFERENTIAL_CONSTRAINTS rc "
                                   "  ON rc.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA "
                                   " AND rc.CONSTRAINT_NAME = k.CONSTRAINT_NAME AND rc.TABLE_NAME = k.TABLE_NAME "
                                   "WHERE k.TABLE_SCHEMA = DATABASE() AND k.TABLE_NAME = ? "
                                   "  AND k.REFERENCED_TABLE_NAME IS NOT NULL "
                                   "ORDER BY k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
                                   p)) {
        auto [it, fresh] = fk_at.emplace(str(r.at(0)), def.foreign_keys.size());
        if (fresh) {
            CatalogForeignKey fk;
            fk.name = str(r.at(0));
            fk.ref_table = str(r.at(2));
            fk.on_update = str(r.at(4));
            fk.on_delete = str(r.at(5));
            def.foreign_keys.push_back(std::move(fk));
        }
        def.foreign_keys[it->second].columns.push_back(str(r.at(1)));
        def.foreign_keys[it->second].ref_columns.push_back(str(r.at(3)));
    }

    if (auto r = conn.query_one("SHOW CREATE TABLE " + conn.dialect().quote(def.name))) def.create_sql = str(r->at(1));
}

// -- PostgreSQL ---------------------------------------------------------------

// The table's oid, resolved through search_path like every other query.
constexpr std::string_view k_pg_table = "to_regclass(quote_ident($1))";

void read_postgres(Connection& conn, TableDefinition& def) {
    const Value name = Value::text(def.name);
    const Params p(&name, 1);
    const auto cols = conn.query(fmt::format(R"(
        SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text,
               CASE WHEN a.attcollation <> t.typcollation THEN co.collname END,
               t.typtype::text, t.typcategory = 'A', a.atttypid::bigint,
               pg_get_serial_sequence(quote_ident($1), a.attname) IS NOT NULL
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
         WHERE a.attrelid = {} AND a.attnum > 0 AND NOT a.attisdropped
         ORDER BY a.attnum)",
                                             k_pg_table),
                                 p);
    for (const Row& r : cols) {
        CatalogColumn c;
        c.name = str(r.at(0));
        c.data_type = str(r.at(1));
        c.column_type = str(r.at(2));
        c.nullable = r.at(3).as_bool();
        const std::string identity = str(r.at(5)), generated = str(r.at(6));
        if (!generated.empty()) {
            c.generated_expr = str(r.at(4));
            c.generated_stored = true;  // PostgreSQL's only kind
        } else if (!r.at(4).is_null()) {
            c.default_expr = str(r.at(4));
        }
        c.auto_increment = !identity.empty() || r.at(11).as_bool();
        if (c.auto_increment && c.default_expr && c.default_expr->starts_with("nextval(")) c.default_expr.reset();
        c.collation = str(r.at(7));
        const std::string typtype = str(r.at(8));
        c.pg_typtype = typtype.empty() ? 'b' : typtype[0];
        c.pg_array = r.at(9).as_bool();
        if (c.pg_typtype == 'e') {
            const Value oid = r.at(10);
            for (const Row& l : conn.query("SELECT enumlabel FROM pg_catalog.pg_enum WHERE enumtypid = $1::bigint::oid "
                                           "ORDER BY enumsortorder",
                                           Params(&oid, 1)))
                c.labels.push_back(str(l.at(0)));
        }
        def.columns.push_back(std::move(c));
    }
    if (def.columns.empty())
        throw Error(Code::config, fmt::format("table '{}' not found in {}", def.name, conn.describe()));

    std::map<std::string, std::size_t> at;
    for (const Row& r : conn.query(fmt::format(R"(
        SELECT ic.relname, i.indisunique, i.indisprimary, am.amname, pg_get_indexdef(i.indexrelid),
               i.indexprs IS NOT NULL OR i.indpred IS NOT NULL, a.attname, (k.opt & 1) = 1
          FROM pg_catalog.pg_index i
          JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
          JOIN pg_catalog.pg_am am ON am.oid = ic.relam
          CROSS JOIN LATERAL unnest(i.indkey::int2[], i.indoption::int2[]) WITH ORDINALITY AS k(attnum, opt, n)
          LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum AND k.attnum > 0
         WHERE i.indrelid = {} AND k.n <= i.indnkeyatts
         ORDER BY i.indisprimary DESC, ic.relname, k.n)",
                                               k_pg_table),
                                   p)) {
        if (r.at(2).as_bool()) {
            def.primary_key.push_back(str(r.at(6)));
            continue;
        }
        auto [it, fresh] = at.emplace(str(r.at(0)), def.indexes.size());
        if (fresh) {
            CatalogIndex ix;
            ix.name = str(r.at(0));
            ix.unique = r.at(1).as_bool();
            ix.kind = str(r.at(3));
            ix.definition = str(r.at(4));
            ix.expression_or_partial = r.at(5).as_bool();
            def.indexes.push_back(std::move(ix));
        }
        def.indexes[it->second].parts.push_back({str(r.at(6)), 0, r.at(7).as_bool()});
    }

    for (const Row& r :
         conn.query(fmt::format("SELECT conname, pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint "
                                "WHERE conrelid = {} AND contype = 'c' ORDER BY conname",
                                k_pg_table),
                    p))
        def.checks.push_back({str(r.at(0)), str(r.at(1))});

    for (const Row& r : conn.query(fmt::format(R"(
        SELECT c.conname, c.confrelid::regclass::text, c.confupdtype::text, c.confdeltype::text,
               (SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(c.conkey) WITH ORDINALITY k(attnum, n)
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum),
               (SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(c.confkey) WITH ORDINALITY k(attnum, n)
                  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum)
          FROM pg_catalog.pg_constraint c
         WHERE c.conrelid = {} AND c.contype = 'f' ORDER BY c.conname)",
                                               k_pg_table),
                                   p)) {
        auto rule = [](const std::string& code) -> std::string {
            if (code == "c") return "CASCADE";
            if (code == "n") return "SET NULL";
            if (code == "d") return "SET DEFAULT";
            if (code == "r") return "RESTRICT";
            return "NO ACTION";
        };
        auto split = [](const std::string& s) {
            std::vector<std::string> out;
            std::size_t from = 0;
            while (from <= s.size()) {
                const auto comma = s.find(',', from);
                out.push_back(s.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
                if (comma == std::string::npos) break;
                from = comma + 1;
            }
            return out;
        };
        CatalogForeignKey fk;
        fk.name = str(r.at(0));
        fk.ref_table = str(r.at(1));
        fk.on_update = rule(str(r.at(2)));
        fk.on_delete = rule(str(r.at(3)));
        fk.columns = split(str(r.at(4)));
        fk.ref_columns = split(str(r.at(5)));
        def.foreign_keys.push_back(std::move(fk));
    }
}

}  // namespace

const CatalogColumn* TableDefinition::column(std::string_view wanted) const {
    for (const auto& c : columns)
        if (c.name == wanted) return &c;
    return nullptr;
}

TableDefinition read_table_definition(Connection& conn, std::string_view table) {
    conn.dialect().quote(table);  // a name the rest of the tool can use, or Error(Code::config)
    TableDefinition def;
    def.name = std::string(table);
    try {
        if (conn.dialect().engine() == Engine::postgres)
            read_postgres(conn, def);
        else
            read_mysql(conn, def);
    } catch (Error& e) {
        if (e.code() == Code::config) throw;
        throw e.context(fmt::format("reading the definition of '{}' in {}", table, conn.describe()));
    }
    return def;
}

std::vector<std::string> generated_columns(Connection& conn, std::string_view table) {
    const Value name = Value::text(std::string(table));
    const Params p(&name, 1);
    const std::string sql =
        conn.dialect().engine() == Engine::postgres
            ? fmt::format(
                  "SELECT attname FROM pg_catalog.pg_attribute WHERE attrelid = {} AND attnum > 0 AND NOT "
                  "attisdropped AND attgenerated <> '' ORDER BY attnum",
                  k_pg_table)
            : "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? "
              "AND LOWER(EXTRA) LIKE '%generated%' AND LOWER(EXTRA) <> 'default_generated' ORDER BY "
              "ORDINAL_POSITION";
    std::vector<std::string> out;
    for (const Row& r : conn.query(sql, p)) out.push_back(str(r.at(0)));
    return out;
}

std::vector<std::pair<std::string, std::string>> non_unicode_columns(Connection& conn, std::string_view table) {
    std::vector<std::pair<std::string, std::string>> out;
    if (conn.dialect().engine() != Engine::mysql) return out;
    const Value name = Value::text(std::string(table));
    const Params p(&name, 1);
    // ascii maps every byte it stores; binary columns read as bytes anyway.
    const std::string sql =
        "SELECT COLUMN_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND "
        "TABLE_NAME = ? AND CHARACTER_SET_NAME IS NOT NULL AND CHARACTER_SET_NAME NOT IN ('utf8mb3', 'utf8', "
        "'utf8mb4', 'ucs2', 'utf16', 'utf16le', 'utf32', 'ascii', 'binary') ORDER BY ORDINAL_POSITION";
    for (const Row& r : conn.query(sql, p)) out.emplace_back(str(r.at(0)), str(r.at(1)));
    return out;
}

namespace {

// The other tables on either end of `table`'s foreign keys: those it
// references (parents) or those referencing it (children).
std::vector<std::string> foreign_key_tables(Connection& conn, std::string_view table, bool children) {
    const Value name = Value::text(std::string(table));
    const Params p(&name, 1);
    std::string sql;
    if (conn.dialect().engine() == Engine::postgres)
        sql = fmt::format(
            "SELECT DISTINCT r.relname FROM pg_catalog.pg_constraint k JOIN pg_catalog.pg_class r ON r.oid = k.{} "
            "WHERE k.{} = {} AND k.contype = 'f' AND k.confrelid <> k.conrelid ORDER BY 1",
            children ? "conrelid" : "confrelid", children ? "confrelid" : "conrelid", k_pg_table);
    else
        sql = fmt::format(
            "SELECT DISTINCT {} FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND "
            "REFERENCED_TABLE_SCHEMA = DATABASE() AND {} = ? AND REFERENCED_TABLE_NAME <> TABLE_NAME ORDER BY 1",
            children ? "TABLE_NAME" : "REFERENCED_TABLE_NAME", children ? "REFERENCED_TABLE_NAME" : "TABLE_NAME");
    std::vector<std::string> out;
    for (const Row& r : conn.query(sql, p)) out.push_back(str(r.at(0)));
    return out;
}

}  // namespace

std::vector<std::string> foreign_key_parents(Connection& conn, std::string_view table) {
    return foreign_key_tables(conn, table, false);
}

std::vector<std::string> foreign_key_children(Connection& conn, std::string_view table) {
    return foreign_key_tables(conn, table, true);
}

std::vector<std::string> list_tables(Connection& conn) {
    const std::string sql =
        conn.dialect().engine() == Engine::postgres
            ? "SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
              "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
              "AND c.relname NOT LIKE 'webookctl\\_%' ORDER BY c.relname"
            : "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() "
              "AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT LIKE 'webookctl\\_%' ORDER BY TABLE_NAME";
    std::vector<std::string> out;
    for (const Row& r : conn.query(sql)) out.push_back(str(r.at(0)));
    return out;
}

std::vector<std::string> parse_mysql_labels(std::string_view type) {
    std::vector<std::string> out;
    auto open = type.find('(');
    if (open == std::string_view::npos) return out;
    std::size_t i = open + 1;
    while (i < type.size() && type[i] == '\'') {
        std::string label;
        ++i;
        while (i < type.size()) {
            if (type[i] == '\'' && i + 1 < type.size() && type[i + 1] == '\'') {
                label += '\'';
                i += 2;
            } else if (type[i] == '\\' && i + 1 < type.size()) {
                label += type[i + 1];
                i += 2;
            } else if (type[i] == '\'') {
                ++i;
                break;
            } else {
                label += type[i++];
            }
        }
        out.push_back(std::move(label));
        if (i < type.size() && type[i] == ',') ++i;
    }
    return out;
}

}  // namespace webook
