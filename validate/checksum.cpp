#include "validate/checksum.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/dialect.h"

namespace webook {

bool checksum_supported(const TablePlan& plan, std::string* why) {
    // The servers print JSON differently; only the rows, canonicalized,
    // compare it as JSON.
    if (!plan.json_columns.empty()) {
        if (why)
            *why =
                fmt::format("column {} is JSON ({} vs {}), compared as JSON", plan.source.columns[plan.json_columns[0]],
                            plan.source.sql_types[plan.json_columns[0]], plan.target.sql_types[plan.json_columns[0]]);
        return false;
    }
    if (!plan.duration_columns.empty()) {
        if (why)
            *why = fmt::format(
                "column {} is a duration ({} vs {}), compared as one", plan.source.columns[plan.duration_columns[0]],
                plan.source.sql_types[plan.duration_columns[0]], plan.target.sql_types[plan.duration_columns[0]]);
        return false;
    }
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

namespace {

// The row hash of every column of `side`, as an SQL expression.
std::string row_hash(const Dialect& d, const SidePlan& side) {
    std::vector<Dialect::HashedColumn> columns;
    for (std::size_t i = 0; i < side.columns.size(); ++i)
        columns.push_back({column_expr(d, side, i), side.kinds[i], side.decimal_scales[i],
                           i < side.nullable.size() ? bool(side.nullable[i]) : true,
                           i < side.sql_types.size() ? side.sql_types[i] : std::string()});
    return d.row_hash64(columns);
}

// COUNT(*) and BIT_XOR as the first two columns of `row`.
ChunkChecksum read_checksum(const Row& row) {
    ChunkChecksum c;
    c.rows = row.at(0).as_int();
    // MariaDB's BIT_XOR is unsigned, PostgreSQL's bit_xor signed (NULL for no rows): the same 64 bits.
    if (const Value& h = row.at(1); !h.is_null()) {
        const std::string text = h.canonical();
        c.hash = text.starts_with('-') ? static_cast<std::uint64_t>(std::stoll(text)) : std::stoull(text);
    }
    return c;
}

// MAX of the key as the plan reads the key: the bound goes into keyset
// queries and checkpoints as a key of that kind.
Value key_value(const SidePlan& side, const Value& max) {
    const bool is_unsigned = max.kind() == ValueKind::unsigned_integer;
    if (side.kinds[0] == ValueKind::unsigned_integer)
        return Value::unsigned_integer(is_unsigned ? max.as_uint() : static_cast<std::uint64_t>(max.as_int()));
    return Value::integer(is_unsigned ? static_cast<std::int64_t>(max.as_uint()) : max.as_int());
}

}  // namespace

BoundSql checksum_query(const Dialect& d, const SidePlan& side, const KeyBounds& bounds, std::string_view filter,
                        std::vector<Value> filter_params) {
    BoundSql q;
    q.params = std::move(filter_params);
    const std::string where = where_clause(d, side, filter, bounds, q.params);
    q.sql = fmt::format("SELECT COUNT(*), BIT_XOR({}) FROM {}{}", row_hash(d, side), d.quote(side.table), where);
    return q;
}

ChunkChecksum run_checksum(Connection& conn, const SidePlan& side, const KeyBounds& bounds, std::string_view filter,
                           std::vector<Value> filter_params) {
    BoundSql q = checksum_query(conn.dialect(), side, bounds, filter, std::move(filter_params));
    auto row = conn.query_one(q.sql, q.params);
    return row ? read_checksum(*row) : ChunkChecksum{};
}

bool leading_chunks_supported(const SidePlan& side) {
    return side.key.size() == 1 && !side.kinds.empty() &&
           (side.kinds[0] == ValueKind::integer || side.kinds[0] == ValueKind::unsigned_integer);
}

BoundSql leading_chunk_query(const Dialect& d, const SidePlan& side, const std::optional<Row>& after, std::size_t rows,
                             std::string_view filter, std::vector<Value> filter_params) {
    if (!leading_chunks_supported(side))
        throw Error(Code::internal,
                    fmt::format("leading_chunk_query: the key of {} is not one integer column", side.table));
    BoundSql q;
    q.params = std::move(filter_params);
    const std::string where = where_clause(d, side, filter, KeyBounds{after, std::nullopt}, q.params);
    const std::string key = d.quote(side.key[0]);
    q.sql = fmt::format(
        "SELECT COUNT(*), BIT_XOR(webook_h), MAX(webook_k), MIN(webook_k) FROM (SELECT {} AS webook_k, {} AS "
        "webook_h FROM {}{} "
        "ORDER BY {} LIMIT {}) AS webook_chunk",
        key, row_hash(d, side), d.quote(side.table), where, key, std::max<std::size_t>(rows, 1));
    return q;
}

LeadingChunk run_leading_chunk(Connection& conn, const SidePlan& side, const std::optional<Row>& after,
                               std::size_t rows, std::string_view filter, std::vector<Value> filter_params) {
    BoundSql q = leading_chunk_query(conn.dialect(), side, after, rows, filter, std::move(filter_params));
    auto row = conn.query_one(q.sql, q.params);
    LeadingChunk c;
    if (!row) return c;
    c.sum = read_checksum(*row);
    // A full chunk ends at its last key; a short one is the table's end.
    if (!row->at(2).is_null()) {
        c.last = key_value(side, row->at(2));
        c.first = key_value(side, row->at(3));
    }
    if (c.sum.rows >= static_cast<std::int64_t>(std::max<std::size_t>(rows, 1)) && c.last) c.up_to = Row{*c.last};
    return c;
}

std::int64_t KeyBuckets::count() const {
    const __int128 span = __int128(high) - low;
    return static_cast<std::int64_t>(span / width + (span % width != 0));
}

std::int64_t KeyBuckets::end_of(std::int64_t i) const {
    return static_cast<std::int64_t>(std::min<__int128>(__int128(low) + __int128(i + 1) * width, high));
}

bool key_buckets_supported(const SidePlan& side) {
    return side.key.size() == 1 && !side.kinds.empty() && side.kinds[0] == ValueKind::integer;
}

BoundSql bucket_query(const Dialect& d, const SidePlan& side, const KeyBuckets& b, std::string_view filter,
                      std::vector<Value> filter_params) {
    if (!key_buckets_supported(side) || b.width < 1 || b.high <= b.low)
        throw Error(Code::internal, fmt::format("bucket_query: no key buckets on {}", side.table));
    BoundSql q;
    q.params = std::move(filter_params);
    const KeyBounds range{Row{Value::integer(b.low)}, Row{Value::integer(b.high)}};
    const std::string where = where_clause(d, side, filter, range, q.params);
    const std::string key = d.quote(side.key[0]);
    // Keys in the range are above `low`, so key - low - 1 is 0 or more and,
    // by the caller's bound, within a BIGINT; both servers divide integers
    // toward zero (MariaDB's DIV, PostgreSQL's bigint /).
    const std::string divide = d.engine() == Engine::mysql ? "DIV" : "/";
    q.sql = fmt::format("SELECT ({} - ({}) - 1) {} {} AS webook_b, COUNT(*), BIT_XOR({}) FROM {}{} GROUP BY webook_b",
                        key, b.low, divide, b.width, row_hash(d, side), d.quote(side.table), where);
    return q;
}

std::map<std::int64_t, ChunkChecksum> run_buckets(Connection& conn, const SidePlan& side, const KeyBuckets& buckets,
                                                  std::string_view filter, std::vector<Value> filter_params) {
    BoundSql q = bucket_query(conn.dialect(), side, buckets, filter, std::move(filter_params));
    std::map<std::int64_t, ChunkChecksum> out;
    for (const Row& row : conn.query(q.sql, q.params)) {
        const Row sums(row.begin() + 1, row.end());
        out[row.at(0).as_int()] = read_checksum(sums);
    }
    return out;
}

}  // namespace webook
