// Full and incremental validation of migrated tables (README.md "validate").
//
// Full: one merge pass over base and target in key order (row_merge.h),
// batches read by keyset pagination on both sides concurrently (each side on
// its own connection and thread), or, with checksums, a count and a 64-bit
// order-independent hash per key chunk computed inside each database, with
// the row merge only for chunks that differ.
//
// Incremental: rows whose update-time column moved past a watermark, on both
// sides, compared by key; the watermark is checkpointed per table so each
// cron run continues where the last stopped, re-reading a small overlap for
// transactions that were in flight. Differences are re-checked after a
// delay before they are reported, because a double-write in flight can make
// a row differ for a moment.
//
// Validation only reads the data tables; it writes events to the sink and
// checkpoints to the control table.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/progress.h"
#include "core/db/db.h"
#include "core/migration/event.h"
#include "core/migration/shard.h"
#include "core/migration/table_plan.h"
#include "core/migration/throttle.h"
#include "validate/row_merge.h"

namespace webook {

class EventSink;
class CheckpointStore;

enum class ChecksumMode { off, on };

struct ValidateOptions {
    BaseSide base = BaseSide::src;              // required: resolved from --base or the migration mode
    std::size_t batch_size = 10000;             // rows per keyset batch; default: 10000
    ChecksumMode checksum = ChecksumMode::off;  // default: off (row merge; see RESULTS.md)
    std::size_t chunk_rows = 20000;             // rows per checksum chunk; default: 20000
    ThrottleOptions throttle;                   // default: unthrottled
    Shard shard;                                // default: 1/1

    // Incremental only.
    std::optional<std::string> since;            // --since: overrides the checkpoint
    std::chrono::seconds overlap{5};             // default: 5 s re-read behind the watermark
    std::chrono::milliseconds recheck_after{0};  // default: 0 = report at once

    ProgressCounter* progress = nullptr;  // bumped per batch read and per finding; default: none

    void validate() const;
};

// How a table was compared; its name is what the JSON summary shows.
enum class Method { rows, checksum, incremental };
std::string_view method_name(Method m);  // "rows", "checksum", "incremental"

struct TableReport {
    std::string table;
    Method method = Method::rows;
    MergeCounts counts;
    double seconds = 0;
    std::uint64_t chunks = 0;            // checksum chunks compared
    std::uint64_t chunks_differing = 0;  // chunks that needed the row merge
    std::uint64_t rechecked_away = 0;    // differences gone on re-check
    std::string watermark;               // incremental: the new watermark
    bool held_back = false;              // incremental: kept before a difference still found
};

// Validates every row of one table. Events go to `sink` as they are found.
// With options.shard, the split is the one kept in `shard_plans` (the control
// table; see core/migration/shard.h), which is required then.
TableReport validate_full(SideConnections conns, const TablePlan& plan, const ValidateOptions& options, EventSink& sink,
                          CheckpointStore* shard_plans = nullptr);

// Validates the rows changed since the table's watermark and advances it
// (per shard with options.shard, whose split is kept in `checkpoints`).
TableReport validate_incremental(SideConnections conns, const TablePlan& plan, const ValidateOptions& options,
                                 EventSink& sink, CheckpointStore& checkpoints);

}  // namespace webook
