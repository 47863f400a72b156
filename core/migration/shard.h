// Splitting one table across processes or hosts: --shard i/n.
//
// A table's n-way split is a list of n-1 boundary keys b1 < ... < b(n-1) in
// the key's byte-wise order; shard i holds the keys in (b(i-1), b(i)], the
// first and the last shard open-ended, so every row -- also one written after
// the split was planned -- falls in exactly one shard.
//
// The plan is made once per (table, n) and kept in the control table (a
// "shard-plan" checkpoint). Every process given --shard i/n of that table,
// on any host and at any time, reads the same boundaries; the first one to
// ask computes them and stores them if no plan is there yet (insert-if-
// absent), then reads back whichever plan won, so planners racing each other
// agree. Without this, hosts starting at different moments would see
// different key spans of a live table and cut it at different keys, leaving
// rows in no shard or in two. A kept plan grows stale as the table grows --
// still correct (the last shard takes the new keys), only less even.
//
// How the boundaries are chosen:
//   * a single integer key: the span MIN..MAX over both sides cut into n
//     equal ranges (two queries, whatever the table's size);
//   * any other key (text, composite): every ceil(rows / n)-th key of the
//     source, streamed in key order from the key alone -- n ranges of about
//     equal row counts.
// An empty table gets no stored plan: shard 1 takes the whole table and the
// others nothing, until a later run plans it with rows in it.
//
// Copy and validation apply a shard as a WHERE filter on top of their key
// bounds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/migration/table_plan.h"

namespace webook {

class CheckpointStore;
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

// One shard's keys: (after, up_to], either open; `none` selects no row.
struct ShardRange {
    std::optional<Row> after;
    std::optional<Row> up_to;
    bool none = false;
};

// A WHERE fragment (placeholders numbered from 1) and its parameters.
struct ShardFilter {
    std::string sql;
    std::vector<Value> params;
};

// Computes the n-1 boundaries of a count-way split (see the header comment);
// fewer when the table has fewer rows than shards, none when it is empty.
// Reads only; does not store.
std::vector<Row> compute_shard_boundaries(SideConnections conns, const TablePlan& plan, int count);

// Shard `shard`'s range among `boundaries`.
ShardRange shard_of(const std::vector<Row>& boundaries, const Shard& shard);

// The range of `shard` of the table under the plan kept in the control
// table (`plans`), planned and stored first if there is none. The whole
// table when shard.whole() (no query). Throws Error(Code::data) for a kept
// plan that does not fit the table's key (the key changed since).
ShardRange shard_range(SideConnections conns, const TablePlan& plan, const Shard& shard, CheckpointStore& plans);

// Forgets every kept split of `table` (all n), so the next sharded run plans
// afresh from the table as it is then; returns how many were forgotten.
// Refuses (Error(Code::usage), nothing deleted) while a sharded copy of the
// table is unfinished: its resume must cut the table where it began. Runs
// still going elsewhere are the operator's to stop first.
std::size_t forget_shard_plans(CheckpointStore& plans, const std::string& table);

// The WHERE fragment selecting `range` on one side: key tuple comparisons in
// byte-wise order, like keyset bounds. Appends its parameters to `params` and
// numbers its placeholders after those already there.
std::string shard_condition(const Dialect& dialect, const SidePlan& side, const ShardRange& range,
                            std::vector<Value>& params);
ShardFilter shard_filter(const Dialect& dialect, const SidePlan& side, const ShardRange& range);

}  // namespace webook
