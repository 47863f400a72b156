#include "core/migration/keyset.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/dialect.h"

namespace webook {
namespace {

bool needs_binary(const SidePlan& side, std::size_t i) {
    ValueKind k = side.kinds[i];
    return (k == ValueKind::text) && !side.binary_collation[i];
}

// The i-th key column as compared and ordered: byte-wise for text.
std::string key_expr(const Dialect& d, const SidePlan& side, std::size_t i) {
    std::string q = d.quote(side.key[i]);
    return needs_binary(side, i) ? d.binary(q) : q;
}

}  // namespace

// The i-th column as a query reads it. A 4-byte float widened to a double,
// which holds it exactly: MariaDB's text protocol prints a FLOAT with 6
// significant digits (0.1 and 0.10000001 both as "0.1"), and PostgreSQL
// prints a real by the shortest text that reads back as that float, which
// is not the double it widens to. Widened on both engines, equal floats read
// equal whatever the protocol, and writing the double back into a float
// column gives the same float.
// Text in a MySQL character set that is not Unicode (SidePlan::charsets):
// as its bytes when the plan says so (kind bytes); else converted to
// utf8mb4 when that is exact -- the conversion back gives the same bytes --
// and otherwise as k_no_unicode_mark and the bytes in hex, which compares
// unequal to the '?' a target holds and which copy and fix refuse.
std::string column_expr(const Dialect& d, const SidePlan& side, std::size_t i) {
    std::string q = d.quote(side.columns[i]);
    if (d.engine() == Engine::mysql && i < side.charsets.size() && !side.charsets[i].empty()) {
        if (side.kinds[i] == ValueKind::bytes) return fmt::format("CAST({} AS BINARY)", q);
        return fmt::format(
            "IF(CAST(CONVERT(CONVERT({0} USING utf8mb4) USING {1}) AS BINARY) = CAST({0} AS BINARY), "
            "CONVERT({0} USING utf8mb4), CONCAT(_utf8mb4 X'EFBFBF', LOWER(HEX({0}))))",
            q, side.charsets[i]);
    }
    if (side.kinds[i] != ValueKind::real || i >= side.sql_types.size()) return q;
    const std::string& type = side.sql_types[i];
    if (d.engine() == Engine::mysql && type.starts_with("float")) return fmt::format("CAST({} AS DOUBLE)", q);
    if (d.engine() == Engine::postgres && type == "real") return fmt::format("{}::float8", q);
    return q;
}

namespace {

std::string read_column(const Dialect& d, const SidePlan& side, std::size_t i) {
    std::string expr = column_expr(d, side, i);
    std::string q = d.quote(side.columns[i]);
    return expr == q ? expr : fmt::format("{} AS {}", expr, q);
}

std::string select_list(const Dialect& d, const SidePlan& side, bool keys_only) {
    if (keys_only) return d.quote_list(side.key);
    std::string out;
    for (std::size_t i = 0; i < side.columns.size(); ++i) {
        if (i) out += ", ";
        out += read_column(d, side, i);
    }
    return out;
}

// Lexicographic comparison of the key tuple against `bound`:
//   op ">"  : key > bound        op "<=" : key <= bound
std::string tuple_compare(const Dialect& d, const SidePlan& side, std::string_view op, const Row& bound,
                          std::vector<Value>& params) {
    const std::size_t n = side.key.size();
    if (bound.size() != n) throw Error(Code::internal, "key bound of the wrong width");
    if (n == 1) {
        params.push_back(bound[0]);
        return fmt::format("{} {} {}", key_expr(d, side, 0), op, d.placeholder(static_cast<int>(params.size())));
    }
    if (d.engine() == Engine::postgres) {
        std::vector<std::string> lhs, rhs;
        for (std::size_t i = 0; i < n; ++i) {
            lhs.push_back(key_expr(d, side, i));
            params.push_back(bound[i]);
            rhs.push_back(d.placeholder(static_cast<int>(params.size())));
        }
        std::string l, r;
        for (std::size_t i = 0; i < n; ++i) {
            l += (i ? ", " : "") + lhs[i];
            r += (i ? ", " : "") + rhs[i];
        }
        return fmt::format("({}) {} ({})", l, op, r);
    }
    // (k0 > v0) OR (k0 = v0 AND k1 > v1) OR ... ; for "<=" the last term is
    // "<=" and the others "<".
    const bool upper = op == "<=";
    std::string out = "(";
    for (std::size_t i = 0; i < n; ++i) {
        if (i) out += " OR ";
        out += "(";
        for (std::size_t j = 0; j < i; ++j) {
            params.push_back(bound[j]);
            out += fmt::format("{} = {} AND ", key_expr(d, side, j), d.placeholder(static_cast<int>(params.size())));
        }
        params.push_back(bound[i]);
        std::string_view cmp = upper ? (i + 1 == n ? "<=" : "<") : ">";
        out += fmt::format("{} {} {})", key_expr(d, side, i), cmp, d.placeholder(static_cast<int>(params.size())));
    }
    return out + ")";
}

// key = value, exactly: on a non-binary text column the plain equality keeps
// the index usable and the binary one rejects case/space variants.
std::string key_equals(const Dialect& d, const SidePlan& side, const Row& key, std::vector<Value>& params) {
    std::string out;
    for (std::size_t i = 0; i < side.key.size(); ++i) {
        if (i) out += " AND ";
        std::string q = d.quote(side.key[i]);
        params.push_back(key[i]);
        out += fmt::format("{} = {}", q, d.placeholder(static_cast<int>(params.size())));
        if (needs_binary(side, i)) {
            params.push_back(key[i]);
            out += fmt::format(" AND {} = {}", d.binary(q), d.placeholder(static_cast<int>(params.size())));
        }
    }
    return out;
}

// PostgreSQL plans `(a, b) IN ((..), (..), ...)` as one OR arm per tuple: 500
// tuples take ~35 ms to plan, 7x their execution. A VALUES list is one join
// (~1 ms); its parameters are cast to the columns' own types so the index
// applies. `positions` are columns of `side`; rows skipped by `skip` add
// nothing. Empty when the types are unknown (a plan built by hand) or no row
// is left: the caller then uses the portable form.
template <typename Skip>
std::string pg_values_in(const Dialect& d, const SidePlan& side, const std::vector<std::size_t>& positions,
                         const std::vector<Row>& rows, std::vector<Value>& params, Skip skip) {
    if (d.engine() != Engine::postgres || positions.size() < 2) return {};
    std::vector<std::string> names;
    for (std::size_t pos : positions) {
        if (pos >= side.sql_types.size() || side.sql_types[pos].empty()) return {};
        names.push_back(side.columns.at(pos));
    }
    std::string values;
    for (const Row& row : rows) {
        if (skip(row)) continue;
        values += values.empty() ? "(" : ", (";
        for (std::size_t i = 0; i < positions.size(); ++i) {
            params.push_back(row.at(positions[i]));
            values += fmt::format("{}CAST({} AS {})", i ? ", " : "", d.placeholder(static_cast<int>(params.size())),
                                  side.sql_types[positions[i]]);
        }
        values += ")";
    }
    if (values.empty()) return {};
    return fmt::format("({}) IN (VALUES {})", d.quote_list(names), values);
}

std::string keys_condition(const Dialect& d, const SidePlan& side, const std::vector<Row>& keys,
                           std::vector<Value>& params) {
    if (keys.empty()) throw Error(Code::internal, "key lookup without keys");
    // Text keys in a non-byte-wise collation keep key_equals' exact match.
    std::vector<std::size_t> key_positions(side.key.size());
    bool exact = true;
    for (std::size_t i = 0; i < key_positions.size(); ++i) {
        key_positions[i] = i;
        exact = exact && !needs_binary(side, i);
    }
    if (exact) {
        std::string values = pg_values_in(d, side, key_positions, keys, params, [](const Row&) { return false; });
        if (!values.empty()) return values;
    }
    if (side.key.size() == 1 && !needs_binary(side, 0)) {
        std::string out = d.quote(side.key[0]) + " IN (";
        for (std::size_t i = 0; i < keys.size(); ++i) {
            params.push_back(keys[i].at(0));
            out += (i ? ", " : "") + d.placeholder(static_cast<int>(params.size()));
        }
        return out + ")";
    }
    std::string out;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        if (i) out += " OR ";
        out += "(" + key_equals(d, side, keys[i], params) + ")";
    }
    return out;
}

}  // namespace

std::string key_order(const Dialect& d, const SidePlan& side) {
    std::string out;
    for (std::size_t i = 0; i < side.key.size(); ++i) out += (i ? ", " : "") + key_expr(d, side, i);
    return out;
}

std::string bounds_condition(const Dialect& d, const SidePlan& side, const KeyBounds& bounds,
                             std::vector<Value>& params) {
    std::string where;
    if (bounds.after) where = tuple_compare(d, side, ">", *bounds.after, params);
    if (bounds.up_to) {
        if (!where.empty()) where += " AND ";
        where += tuple_compare(d, side, "<=", *bounds.up_to, params);
    }
    return where;
}

std::string where_clause(const Dialect& d, const SidePlan& side, std::string_view filter, const KeyBounds& bounds,
                         std::vector<Value>& params) {
    std::string where(filter);
    const std::string range = bounds_condition(d, side, bounds, params);
    if (!where.empty() && !range.empty()) where = "(" + where + ") AND ";
    where += range;
    return where.empty() ? "" : " WHERE " + where;
}

BoundSql keyset_query(const Dialect& d, const SidePlan& side, const KeyBounds& bounds, std::size_t limit,
                      bool keys_only, std::string_view filter, std::vector<Value> filter_params) {
    BoundSql q;
    q.params = std::move(filter_params);
    const std::string where = where_clause(d, side, filter, bounds, q.params);
    q.sql = fmt::format("SELECT {} FROM {}{} ORDER BY {}", select_list(d, side, keys_only), d.quote(side.table), where,
                        key_order(d, side));
    if (limit > 0) q.sql += fmt::format(" LIMIT {}", limit);
    return q;
}

BoundSql chunk_end_query(const Dialect& d, const SidePlan& side, const KeyBounds& bounds, std::size_t rows,
                         std::string_view filter, std::vector<Value> filter_params) {
    BoundSql q = keyset_query(d, side, bounds, 1, true, filter, std::move(filter_params));
    q.sql += fmt::format(" OFFSET {}", rows > 0 ? rows - 1 : 0);
    return q;
}

BoundSql key_lookup_query(const Dialect& d, const SidePlan& side, const std::vector<Row>& keys,
                          std::string_view suffix) {
    BoundSql q;
    std::string where = keys_condition(d, side, keys, q.params);
    q.sql = fmt::format("SELECT {} FROM {} WHERE {} ORDER BY {}{}", select_list(d, side, false), d.quote(side.table),
                        where, key_order(d, side), suffix);
    return q;
}

BoundSql key_delete_query(const Dialect& d, const SidePlan& side, const std::vector<Row>& keys) {
    BoundSql q;
    std::string where = keys_condition(d, side, keys, q.params);
    q.sql = fmt::format("DELETE FROM {} WHERE {}", d.quote(side.table), where);
    return q;
}

BoundSql unique_lookup_query(const Dialect& d, const SidePlan& side, const std::vector<std::size_t>& unique,
                             const std::vector<Row>& rows) {
    BoundSql q;
    const auto has_null = [&](const Row& row) {
        return std::any_of(unique.begin(), unique.end(), [&](std::size_t pos) { return row.at(pos).is_null(); });
    };
    if (std::string values = pg_values_in(d, side, unique, rows, q.params, has_null); !values.empty()) {
        q.sql = fmt::format("SELECT {} FROM {} WHERE {}", select_list(d, side, true), d.quote(side.table), values);
        return q;
    }
    std::vector<std::string> names;
    for (std::size_t pos : unique) names.push_back(side.columns.at(pos));
    std::string tuples;
    for (const Row& row : rows) {
        if (has_null(row)) continue;
        std::string tuple;
        for (std::size_t pos : unique) {
            q.params.push_back(row[pos]);
            tuple += (tuple.empty() ? "" : ", ") + d.placeholder(static_cast<int>(q.params.size()));
        }
        tuples += (tuples.empty() ? "" : ", ") + (unique.size() == 1 ? tuple : "(" + tuple + ")");
    }
    if (tuples.empty()) return q;
    const std::string lhs = unique.size() == 1 ? d.quote(names[0]) : "(" + d.quote_list(names) + ")";
    q.sql =
        fmt::format("SELECT {} FROM {} WHERE {} IN ({})", select_list(d, side, true), d.quote(side.table), lhs, tuples);
    return q;
}

KeysetReader::KeysetReader(Connection& conn, const SidePlan& side, KeyBounds bounds, std::size_t batch_rows,
                           std::string filter, std::vector<Value> filter_params, ScanMode mode)
    : m_conn(conn),
      m_side(side),
      m_bounds(std::move(bounds)),
      m_batch_rows(batch_rows),
      m_filter(std::move(filter)),
      m_filter_params(std::move(filter_params)),
      m_one_query(mode == ScanMode::one_query_if_unindexed && key_order_unindexed(side)) {
    if (m_batch_rows == 0) throw Error(Code::usage, "batch size must be positive");
}

KeysetReader::~KeysetReader() = default;

bool key_order_unindexed(const SidePlan& side) {
    for (std::size_t i = 0; i < side.key.size(); ++i)
        if (needs_binary(side, i)) return true;
    return false;
}

bool KeysetReader::next(std::vector<Row>& out) {
    if (m_done) {
        out.clear();
        return false;
    }
    if (m_one_query) {
        if (!m_cursor) {
            // Readers pause while their consumer works (a copy's writers, the
            // other side of a merge): the server must keep the result open.
            if (auto setup = m_conn.dialect().long_stream_session(); !setup.empty()) m_conn.execute(setup);
            BoundSql q = keyset_query(m_conn.dialect(), m_side, m_bounds, 0, false, m_filter, m_filter_params);
            m_cursor = m_conn.stream(q.sql, q.params);
        }
        if (!m_cursor->next_batch(out, m_batch_rows)) {
            out.clear();
            m_done = true;
            m_cursor.reset();
            return false;
        }
        m_bounds.after = key_of(out.back(), m_side.key.size());
        m_rows += out.size();
        return true;
    }
    BoundSql q = keyset_query(m_conn.dialect(), m_side, m_bounds, m_batch_rows, false, m_filter, m_filter_params);
    auto cursor = m_conn.stream(q.sql, q.params);
    // Straight into `out`: a cursor overwrites the rows it is given in place,
    // so a recycled batch (Prefetcher) costs no allocation per row. The loop
    // reads on to the cursor's end, which the LIMIT makes near.
    if (!cursor->next_batch(out, m_batch_rows)) out.clear();
    while (cursor->next_batch(m_more, m_batch_rows))
        for (auto& r : m_more) out.push_back(std::move(r));
    if (out.size() < m_batch_rows) m_done = true;
    if (out.empty()) return false;
    m_bounds.after = key_of(out.back(), m_side.key.size());
    m_rows += out.size();
    return true;
}

}  // namespace webook
