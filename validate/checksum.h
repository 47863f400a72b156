// Chunk checksums computed inside each database.
//
// For a key range, each side returns COUNT(*) and two sums of 32-bit halves
// of the first 64 bits of MD5(canonical row text) -- an order-independent
// 64-bit hash slice (not CRC32, whose collisions hide real differences). The
// canonical text is Dialect::canonical_text(), the SQL twin of
// Value::canonical(), so equal rows hash equal across MariaDB and PostgreSQL.
#pragma once

#include <string>

#include "core/db/db.h"
#include "core/migration/keyset.h"
#include "core/migration/table_plan.h"

namespace webook {

struct ChunkChecksum {
    std::int64_t rows = 0;
    std::string sum_high;  // exact decimal text
    std::string sum_low;

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

}  // namespace webook
