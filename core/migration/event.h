// Inconsistency events: what validation finds and fixers repair.
//
// One JSON object per line:
//   {"table":"interactives","key":{"id":42},"type":"neq","base":"src",
//    "detected_at":"2026-11-22T03:04:05.123456Z","validator":"full",
//    "columns":["like_cnt"]}
// `key` holds every key column by name (composite keys fit); integers are JSON
// numbers, everything else a string in canonical form (bytes as "\x<hex>").
// A neq names the columns that differ (source names); with --event-values
// also `"values":{"like_cnt":{"base":3,"other":4}}` (off by default: events
// may reach places personal data should not). The fixer reads neither.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/db/value.h"

namespace webook {

enum class EventType { target_missing, neq, base_missing };
enum class BaseSide { src, dst };

std::string_view event_type_name(EventType type);
std::string_view base_side_name(BaseSide side);
constexpr BaseSide other_side_of(BaseSide side) {
    return side == BaseSide::src ? BaseSide::dst : BaseSide::src;
}

struct InconsistencyEvent {
    std::string table;
    std::vector<std::string> key_columns;  // names, as in the source table
    Row key;                               // values, in key_columns order
    EventType type = EventType::neq;
    BaseSide base = BaseSide::src;
    std::string detected_at;                      // ISO 8601 UTC with microseconds
    std::string validator;                        // "full", "checksum", "incremental"
    std::vector<std::string> columns;             // neq: the columns that differ; empty otherwise
    std::vector<std::pair<Value, Value>> values;  // --event-values: per column, {base, other}; else empty

    std::string to_json() const;
    // The Kafka message key: the row key, so one row stays in one partition.
    std::string message_key() const;

    // Throws Error(Code::data) naming what is wrong. Key values come back as
    // integers or text; the fixer converts them to the key columns' kinds.
    static InconsistencyEvent parse(std::string_view json);
};

// Now, as "YYYY-MM-DDTHH:MM:SS.ffffffZ".
std::string utc_now_iso();

}  // namespace webook
