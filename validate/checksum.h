// Chunk checksums computed inside each database.
//
// For a key range, each side returns COUNT(*) and the XOR of the rows' 64-bit
// hashes (the first 64 bits of MD5 of the canonical row text,
// Dialect::row_hash64()) -- order-independent, and not CRC32, whose
// collisions hide real differences. The canonical texts are the SQL twins of
// Value::canonical(), so equal rows hash equal across MariaDB and PostgreSQL;
// the form is chosen per column from the schema (only text length-prefixed,
// only nullable columns marked), which makes a chunk cost about what a plain
// MD5 aggregate of the columns costs (bench/RESULTS.md "hash limit").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "core/db/db.h"
#include "core/migration/keyset.h"
#include "core/migration/table_plan.h"

namespace webook {

struct ChunkChecksum {
    std::int64_t rows = 0;
    std::uint64_t hash = 0;  // XOR of the rows' hashes; 0 for none

    bool operator==(const ChunkChecksum&) const = default;
};

// Whether every compared column has an exact canonical text on both sides
// (floating-point columns do not); `why` says which column does not.
bool checksum_supported(const TablePlan& plan, std::string* why = nullptr);

// The checksum query for one side over `bounds` (and an optional filter).
BoundSql checksum_query(const Dialect& dialect, const SidePlan& side, const KeyBounds& bounds,
                        std::string_view filter = {}, std::vector<Value> filter_params = {});

ChunkChecksum run_checksum(Connection& conn, const SidePlan& side, const KeyBounds& bounds,
                           std::string_view filter = {}, std::vector<Value> filter_params = {});

// The cutting side's part of a chunk it cuts itself (the base, or the other
// side where only its key allows it): the checksum of the next `rows` rows
// after `after` and the key they end at, in one query that walks them once
// (a subquery in key order with LIMIT; MAX of the key).
// For keys of one integer column, whose MAX is their last in key order:
// leading_chunks_supported(). up_to is none when fewer than `rows` rows
// were left -- the final chunk, which the other side checks open-ended.
struct LeadingChunk {
    ChunkChecksum sum;
    std::optional<Row> up_to;
    // The chunk's first and last keys (none when it holds no row).
    std::optional<Value> first, last;
};
bool leading_chunks_supported(const SidePlan& side);
BoundSql leading_chunk_query(const Dialect& dialect, const SidePlan& side, const std::optional<Row>& after,
                             std::size_t rows, std::string_view filter = {}, std::vector<Value> filter_params = {});
LeadingChunk run_leading_chunk(Connection& conn, const SidePlan& side, const std::optional<Row>& after,
                               std::size_t rows, std::string_view filter = {}, std::vector<Value> filter_params = {});

// A chunk of a one-column signed integer key, (low, high], split by key
// value into ranges of `width` values: range i holds the keys in
// (low + i * width, min(low + (i + 1) * width, high)]. The caller keeps
// high - low within a BIGINT, so no key arithmetic overflows on the servers.
struct KeyBuckets {
    std::int64_t low = 0;
    std::int64_t high = 1;
    std::int64_t width = 1;
    std::int64_t count() const;
    // The upper end of range i, clamped to `high` (i up to count()).
    std::int64_t end_of(std::int64_t i) const;
};
bool key_buckets_supported(const SidePlan& side);
// One query per side: COUNT(*) and BIT_XOR per range (GROUP BY the range's
// number); ranges without rows are absent from the result.
BoundSql bucket_query(const Dialect& dialect, const SidePlan& side, const KeyBuckets& buckets,
                      std::string_view filter = {}, std::vector<Value> filter_params = {});
std::map<std::int64_t, ChunkChecksum> run_buckets(Connection& conn, const SidePlan& side, const KeyBuckets& buckets,
                                                  std::string_view filter = {}, std::vector<Value> filter_params = {});

}  // namespace webook
