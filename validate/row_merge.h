// The row comparer: one merge pass over two key-ordered row streams.
//
// Both sides arrive sorted by key in binary order (see core/migration/keyset.h), so a
// single pass finds every difference: a key only in the base is
// target_missing, a key only in the other side is base_missing (including
// rows past the base's last key), equal keys with different columns are neq.
// Rows are compared with same_row() (core/db/value.h), so engine differences
// that are not data differences do not count.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include "core/migration/event.h"
#include "core/migration/keyset.h"

namespace webook {

struct MergeCounts {
    std::uint64_t base_rows = 0;
    std::uint64_t other_rows = 0;
    std::uint64_t target_missing = 0;
    std::uint64_t neq = 0;
    std::uint64_t base_missing = 0;

    std::uint64_t differences() const { return target_missing + neq + base_missing; }
    MergeCounts& operator+=(const MergeCounts& o);
};

// What a neq found: the positions (in the plan's columns, past the key) whose
// values differ, and both rows -- valid during the call only. Empty for the
// other types.
struct NeqDetail {
    std::vector<std::size_t> columns;
    const Row* base = nullptr;
    const Row* other = nullptr;
};

// Called once per difference with the row key.
using DifferenceFn = std::function<void(EventType type, const Row& key, const NeqDetail& neq)>;

// How far a merge got: every key up to `decided` has been compared and its
// difference reported; `counts` are those keys'. Kept while the merge runs,
// so that one a failure ended can go on from there (after `decided`) without
// reporting a key twice or missing one.
struct MergeProgress {
    MergeCounts counts;
    std::optional<Row> decided;  // none: nothing decided yet
};
// Called while a merge runs, once per batch a source delivered, with its
// progress so far: to checkpoint it, or to note that the work moves.
using MergeProgressFn = std::function<void(const MergeProgress& progress)>;

// Merges until both sources end. Throws what the sources throw, and
// Error(Code::data) if a source is not in key order; `progress` (optional) is
// up to date when it returns or throws.
MergeCounts merge_sorted(BatchSource& base, BatchSource& other, std::size_t key_size, const DifferenceFn& on_difference,
                         MergeProgress* progress = nullptr, const MergeProgressFn& on_progress = {});

// Compares two rows by their first `key_size` values (compare_key order).
int compare_key_prefix(const Row& a, const Row& b, std::size_t key_size);

}  // namespace webook
