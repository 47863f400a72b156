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
#include <map>
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

// How validate --full compares: off, the row merge; on, chunk checksums;
// automatic (--method auto), the first rows both ways, then the faster one
// for the rest (its choice and why in TableReport::method_choice).
enum class ChecksumMode { off, on, automatic };
enum class Resume { no, yes };

struct ValidateOptions {
    BaseSide base = BaseSide::src;              // required: resolved from --base or the migration mode
    std::size_t batch_size = 10000;             // rows per keyset batch; default: 10000
    ChecksumMode checksum = ChecksumMode::off;  // default: off (row merge); the CLI's default is automatic
    std::size_t chunk_rows = 20000;             // rows per checksum chunk; default: 20000
    ThrottleOptions throttle;                   // default: unthrottled
    Shard shard;                                // default: 1/1
    // --event-values: a neq event carries both sides' values of the columns
    // that differ. Off by default: events may reach places personal data
    // should not.
    bool event_values = false;
    // How long one outage of a server may last before the run gives up
    // (--retry-for; core/base/retry.h RetryBudget); 0: the first error ends
    // it. Retrying needs connections that can start over (connect_resumable).
    std::chrono::microseconds retry_for = std::chrono::minutes(5);  // default: 5 min

    // Full only: go on from the table's checkpoint (--resume) when it was
    // made with the same base; otherwise start over.
    Resume resume = Resume::no;  // default: no

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
    std::string method_choice;  // --method auto: what it chose and why; "" otherwise
    MergeCounts counts;
    double seconds = 0;
    std::uint64_t chunks = 0;            // checksum chunks compared
    std::uint64_t chunks_differing = 0;  // chunks that needed the row merge
    std::uint64_t rechecked_away = 0;    // differences gone on re-check
    std::string watermark;               // incremental: the new watermark
    bool held_back = false;              // incremental: kept before a difference still found
    std::uint64_t retries = 0;           // attempts started again after a server went away
    double longest_outage_seconds = 0;   // the longest of those outages
    std::string resumed_after;           // full --resume: the checkpoint's key it went on after; "" if none
    std::uint64_t resumed_rows = 0;      // rows (both sides) the counts include from before the resume
    // Columns on one side only (column_findings): each is a finding of the
    // pass, as a difference is, though no event carries it.
    std::vector<std::string> column_findings;
    // Parents this table's foreign keys reference that are incomplete on the
    // copy (validate/parents.h): findings too, no event (the table's own
    // rows are equal; the parent's validation finds its missing rows).
    std::vector<std::string> parent_findings;
    // neq rows per differing column (source names), for the summary.
    std::map<std::string, std::uint64_t> neq_columns;
    std::uint64_t findings() const { return counts.differences() + column_findings.size() + parent_findings.size(); }
};

// Validates every row of one table. Events go to `sink` as they are found.
// With `checkpoints` (the control table), its progress is saved every few
// seconds -- after the sink delivered the events before it -- and finished at
// its end, for --resume (FullValidationProgress; the caller clears them when
// the whole pass is done: forget_full_progress); a sharded run
// (options.shard) needs it for the kept split (core/migration/shard.h). A temporary error on any of
// the connections is retried within options.retry_for on fresh sessions,
// going on after the last key compared (see the top of full_validator.cpp).
TableReport validate_full(SideConnections conns, const TablePlan& plan, const ValidateOptions& options, EventSink& sink,
                          CheckpointStore* checkpoints = nullptr);

// Clears the table's FullValidationProgress: its pass is complete.
void forget_full_progress(CheckpointStore& checkpoints, const std::string& table, const Shard& shard);

// Validates the rows changed since the table's watermark and advances it
// (per shard with options.shard, whose split is kept in `checkpoints`).
TableReport validate_incremental(SideConnections conns, const TablePlan& plan, const ValidateOptions& options,
                                 EventSink& sink, CheckpointStore& checkpoints);

}  // namespace webook
