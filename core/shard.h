// Splitting one table across processes or hosts: --shard i/n.
//
// The first key column's span over both sides is cut into n equal ranges;
// the first and last ranges are open-ended, so a row outside the span seen at
// planning time still falls in exactly one shard. Copy and validation apply a
// shard as a WHERE filter on top of their key bounds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/table_plan.h"

namespace webook {

class Dialect;

struct Shard {
    int index = 1;  // 1-based
    int count = 1;
    static Shard parse(std::string_view text);  // throws Error(Code::usage)
    std::string str() const;                    // "all" or "i/n": the checkpoint's shard name
    bool whole() const { return count == 1; }
};

// The two sides of one table, each on connections of its own.
struct SideConnections {
    Connection& source;
    Connection& target;
};

// The first key column's slice: (after, up_to], either open.
struct ShardRange {
    std::optional<std::int64_t> after;
    std::optional<std::int64_t> up_to;
};

// A WHERE fragment (placeholders numbered from 1) and its parameters.
struct ShardFilter {
    std::string sql;
    std::vector<Value> params;
};

// Throws Error(Code::usage) unless the first key column is an integer.
ShardRange shard_range(SideConnections conns, const TablePlan& plan, const Shard& shard);
ShardFilter shard_filter(const Dialect& dialect, const SidePlan& side, const ShardRange& range);

}  // namespace webook
