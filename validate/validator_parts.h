// Internal to validate/: pieces shared by the full and incremental validators.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/event.h"
#include "core/table_plan.h"
#include "validate/validation.h"

namespace webook {

class EventSink;

// Builds and sends one event per difference.
class EventEmitter {
public:
    EventEmitter(const TablePlan& plan, BaseSide base, std::string validator, EventSink& sink);
    void operator()(EventType type, const Row& key);

private:
    const TablePlan& m_plan;
    BaseSide m_base;
    std::string m_validator;
    EventSink& m_sink;
};

// The first key column's slice for --shard: (after, up_to], either open.
struct ShardRange {
    std::optional<std::int64_t> after;
    std::optional<std::int64_t> up_to;
};

// A WHERE fragment (placeholders from 1) and its parameters.
struct ShardFilter {
    std::string sql;
    std::vector<Value> params;
};

// Splits the first key column's span over both sides into shard.count equal
// ranges; the first and last are open-ended so no row escapes every shard.
// Throws Error(Code::usage) unless the first key column is an integer.
ShardRange shard_range(SideConnections conns, const TablePlan& plan, const Shard& shard);
ShardFilter shard_filter(const Dialect& dialect, const SidePlan& side, const ShardRange& range);

}  // namespace webook
