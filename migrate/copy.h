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

#include "core/progress.h"
#include "core/shard.h"
#include "core/table_plan.h"
#include "core/throttle.h"

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
    ThrottleOptions throttle;        // default: unthrottled
    Shard shard;                     // default: 1/1
    IndexBuild indexes = IndexBuild::deferred;  // default: deferred (a shard copy always keeps them)
    ProgressCounter* progress = nullptr;  // bumped per batch read; default: none

    void validate() const;
};

struct CopyReport {
    std::string table;
    std::uint64_t rows = 0;        // copied by this run
    std::uint64_t rows_total = 0;  // including earlier runs resumed from
    std::string resumed_after;     // the checkpoint key resumed from, if any
    double seconds = 0;
};

// Copies the plan's columns of one table. `conns.source` is read on a
// prefetching thread; `conns.target` is written, and `more_writers` opens the
// other writers' connections (without it, one writer); `checkpoints` may
// share no connection with either.
CopyReport copy_table(SideConnections conns, const TablePlan& plan, const CopyOptions& options,
                      CheckpointStore& checkpoints, const ConnectionFactory& more_writers = {});

}  // namespace webook
