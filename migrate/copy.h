// migrate copy: bulk initialisation of the target from the source.
//
// Keyset-batched reads from the source (`WHERE key > last ORDER BY key LIMIT
// n`, prefetched on a reader thread so reading overlaps writing), batch writes
// to the target (COPY on PostgreSQL, multi-row INSERT on MySQL), one target
// transaction per batch, on `writers` connections at once: the target's index
// maintenance, not reading, is what limits a copy, and a second backend
// uses the second core.
//
// Secondary indexes: one sorted build after the load is several times faster
// than maintaining every index row by row (on PostgreSQL the B-tree inserts
// are most of a copy's server time). So a copy of a whole table saves each
// secondary index's definition in the control table ("copy-index"
// checkpoints), drops the index, loads, and rebuilds -- the statements in
// parallel on the writers' connections -- then clears the definitions. A
// copy killed in between leaves the definitions behind; the next copy of the
// table (--resume, --truncate) rebuilds them at its end. Indexes a foreign key
// needs are kept. A unique index the copied rows violate fails the rebuild
// with the index named and its definition kept.
//
// Phase: a copy writes the target only while the migration is in src_only
// (or none has started): from src_first on the target takes double-writes,
// and from dst_first it is authoritative, so a copy would overwrite newer rows
// with the source's (core/migration/migration_mode.h copy_refusal()). The copy holds the
// mode fence -- on connections of its own to the control database -- while it
// prepares the target (emptiness check, truncate, clean-up past the
// checkpoint, index drop), around every batch it commits, and before the index
// rebuild; so a switch cannot slip in between a check and a write, and a copy
// running when the mode leaves src_only stops at its next batch, refused.
//
// Checkpoint protocol: batches are numbered in key order. When batch k and
// every batch before it have committed on the target, the last key of batch k
// is saved as the ("copy", table, shard) checkpoint in the control table.
// A copy killed anywhere resumes (--resume) from that key after deleting the
// target rows past it -- they belong to batches committed out of order or
// whose checkpoint was never written -- so the target ends identical to the
// source without duplicates.
#pragma once

#include <cstdint>
#include <string>

#include "core/base/progress.h"
#include "core/db/db.h"
#include "core/migration/migration_mode.h"
#include "core/migration/shard.h"
#include "core/migration/table_plan.h"
#include "core/migration/throttle.h"

namespace webook {

class CheckpointStore;

// Secondary indexes during a copy of a whole table.
enum class IndexBuild {
    deferred,  // dropped before the rows go in, rebuilt after (default)
    kept,      // maintained row by row (a target that is already in use)
};

enum class CopyStart {
    fresh,     // refuse a non-empty target (default)
    resume,    // continue after the checkpoint
    truncate,  // empty the target (its shard range) first
};

struct CopyOptions {
    std::size_t batch_size = 20000;  // rows per read batch and per target transaction; default: 20000
    int writers = 2;                 // target connections writing at once; default: 2
    CopyStart start = CopyStart::fresh;
    ThrottleOptions throttle;                   // default: unthrottled
    Shard shard;                                // default: 1/1
    IndexBuild indexes = IndexBuild::deferred;  // default: deferred (a shard copy always keeps them)
    ProgressCounter* progress = nullptr;        // bumped per batch read; default: none
    // How long one outage of a server may last before the copy gives up
    // (--retry-for; core/base/retry.h); 0: the first error ends it. After a
    // temporary error the copy goes on as `--resume` does -- after the last
    // batch whose commit the checkpoint holds, the target's rows past it
    // deleted first -- on fresh sessions (connect_resumable; the writers and
    // fences from their factories).
    std::chrono::microseconds retry_for = std::chrono::minutes(5);  // default: 5 min
    // Required: opens sessions to the control database (and the target's
    // control table, where the mode row moves from dst_first on) for the
    // mode fence; each writer opens its own.
    ControlFactories mode_fence;

    void validate() const;
};

struct CopyReport {
    std::string table;
    std::uint64_t rows = 0;        // copied by this run
    std::uint64_t rows_total = 0;  // including earlier runs resumed from
    std::string resumed_after;     // the checkpoint key resumed from, if any
    double seconds = 0;
    std::uint64_t retries = 0;          // attempts started again after a server went away
    double longest_outage_seconds = 0;  // the longest of those outages
};

// Copies the plan's columns of one table. Throws Error(Code::usage) with
// copy_refusal()'s reason, writing nothing more, when the mode is past src_only. `conns.source` is
// read on a prefetching thread; `conns.target` is written, and `more_writers` opens the other
// writers' connections (without it, one writer); `checkpoints` may share no connection with either.
CopyReport copy_table(SideConnections conns, const TablePlan& plan, const CopyOptions& options,
                      CheckpointStore& checkpoints, const ConnectionFactory& more_writers = {});

// Empties the target tables of a whole-table `--truncate` copy of `plans`
// (in copy order) before any is copied: children before the parents their
// foreign keys reference, each under the mode fence (nothing is emptied
// unless the phase allows the copy). copy_table() then finds them empty.
// Throws Error(Code::usage) before anything is emptied when a table outside
// `plans` holds rows whose foreign key references one of them: emptying the
// parent would fail, or cascade into a table this copy does not own.
void empty_targets(Connection& target, const std::vector<TablePlan>& plans, const CopyOptions& options);

// Why empty_targets() would refuse to empty `plan`'s target in a copy of
// `plans`; "" when it would not (or the copy empties nothing). For
// `migrate copy --dry-run`.
std::string emptying_refusal(Connection& target, const TablePlan& plan, const std::vector<TablePlan>& plans,
                             const CopyOptions& options);

// The order to copy `plans` in: a table after the tables its foreign keys
// on the target reference (so a target that has its foreign keys already
// accepts each row), otherwise as given. Tables in a cycle of foreign keys
// keep their given order (logged: such a target takes the copy only with
// its foreign keys created after it, as `migrate schema` plans them).
std::vector<std::size_t> copy_order(Connection& target, const std::vector<TablePlan>& plans);

// What `migrate copy --dry-run` says a copy of one table would do; nothing
// is written to get it (the counts are exact COUNT(*)s).
struct CopyPlanReport {
    std::string table;
    std::string refusal;              // why the copy would be refused (the phase, a non-empty target); "" if not
    std::string start;                // what happens to the target first
    std::uint64_t source_rows = 0;    // rows the copy would read
    std::uint64_t target_rows = 0;    // rows the target holds now
    std::string first_key, last_key;  // the source's key range (checkpoint encoding); "" when empty
    std::string indexes;              // what happens to the target's secondary indexes
};

// The plan of a copy of `plan`'s table with `options`, in `mode`.
// `checkpoints` may be null (no control tables yet). With options.shard the
// counts and key range cover the whole table (the split is planned, and kept,
// by the first real run).
CopyPlanReport plan_copy(SideConnections conns, const TablePlan& plan, const CopyOptions& options,
                         CheckpointStore* checkpoints, Mode mode);

}  // namespace webook
