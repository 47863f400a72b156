#include "validate/row_merge.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"

namespace webook {
namespace {

// A cursor over a BatchSource's rows, one row at a time.
class MergeCursor {
public:
    MergeCursor(BatchSource& source, const char* side) : m_source(source), m_side(side) {}

    const Row* peek() {
        while (m_pos >= m_batch.size()) {
            if (m_ended) return nullptr;
            m_pos = 0;
            if (!m_source.next(m_batch)) {
                m_ended = true;
                return nullptr;
            }
            ++m_batches;
            check_interrupted();
        }
        return &m_batch[m_pos];
    }

    // Moves to the next row, checking that keys strictly increase.
    void advance(std::size_t key_size) {
        const Row& current = m_batch[m_pos];
        if (m_has_last && compare_key_prefix(m_last, current, key_size) >= 0)
            throw Error(Code::data, fmt::format("{} rows are not in key order at key {}: is a key column's collation "
                                                "or type different from what was introspected?",
                                                m_side, current[0].display()));
        m_last.assign(current.begin(), current.begin() + static_cast<std::ptrdiff_t>(key_size));
        m_has_last = true;
        ++m_pos;
        ++m_count;
    }

    std::uint64_t count() const { return m_count; }
    std::uint64_t batches() const { return m_batches; }
    // The key of the row last advanced past; null before the first.
    const Row* last() const { return m_has_last ? &m_last : nullptr; }

private:
    BatchSource& m_source;
    const char* m_side;
    std::vector<Row> m_batch;
    std::size_t m_pos = 0;
    bool m_ended = false;
    Row m_last;
    bool m_has_last = false;
    std::uint64_t m_count = 0;
    std::uint64_t m_batches = 0;
};

// The positions from `from` on whose values differ (all of them when the
// rows' widths differ).
std::vector<std::size_t> differing_columns(const Row& a, const Row& b, std::size_t from) {
    std::vector<std::size_t> out;
    const std::size_t n = std::max(a.size(), b.size());
    for (std::size_t i = from; i < n; ++i)
        if (i >= a.size() || i >= b.size() || !same_data(a[i], b[i])) out.push_back(i);
    return out;
}

}  // namespace

MergeCounts& MergeCounts::operator+=(const MergeCounts& o) {
    base_rows += o.base_rows;
    other_rows += o.other_rows;
    target_missing += o.target_missing;
    neq += o.neq;
    base_missing += o.base_missing;
    return *this;
}

int compare_key_prefix(const Row& a, const Row& b, std::size_t key_size) {
    for (std::size_t i = 0; i < key_size; ++i)
        if (int c = compare_key(a[i], b[i]); c != 0) return c;
    return 0;
}

MergeCounts merge_sorted(BatchSource& base, BatchSource& other, std::size_t key_size, const DifferenceFn& on_difference,
                         MergeProgress* progress, const MergeProgressFn& on_progress) {
    // A difference is counted once reported: a report that throws leaves its
    // key undecided, so a merge that goes on reports it then.
    MergeCounts counts;
    MergeCursor b(base, "base"), o(other, "other side's");
    auto key = [&](const Row& row) { return key_of(row, key_size); };
    // Keys are decided in increasing order: the later of the two cursors'
    // last keys is the last one decided.
    auto snapshot = [&] {
        if (!progress) return;
        progress->counts = counts;
        progress->counts.base_rows = b.count();
        progress->counts.other_rows = o.count();
        const Row* lb = b.last();
        const Row* lo = o.last();
        const Row* last = !lb ? lo : (!lo ? lb : (compare_key_prefix(*lb, *lo, key_size) >= 0 ? lb : lo));
        if (last) progress->decided = *last;
    };
    std::uint64_t batches_seen = 0;  // progress is reported once per batch read
    try {
        while (true) {
            const Row* br = b.peek();
            const Row* orow = o.peek();
            if (!br && !orow) break;
            int c = !br ? 1 : (!orow ? -1 : compare_key_prefix(*br, *orow, key_size));
            if (c < 0) {
                on_difference(EventType::target_missing, key(*br), NeqDetail{});
                ++counts.target_missing;
                b.advance(key_size);
            } else if (c > 0) {
                on_difference(EventType::base_missing, key(*orow), NeqDetail{});
                ++counts.base_missing;
                o.advance(key_size);
            } else {
                // Keys compare equal; the key values themselves are compared too
                // (e.g. 'a' vs 'A' never reach here: binary order keeps them apart).
                if (NeqDetail neq{differing_columns(*br, *orow, 0), br, orow}; !neq.columns.empty()) {
                    on_difference(EventType::neq, key(*br), neq);
                    ++counts.neq;
                }
                b.advance(key_size);
                o.advance(key_size);
            }
            if (progress && b.batches() + o.batches() != batches_seen) {
                batches_seen = b.batches() + o.batches();
                snapshot();
                if (on_progress) on_progress(*progress);
            }
        }
    } catch (...) {
        snapshot();
        throw;
    }
    snapshot();
    counts.base_rows = b.count();
    counts.other_rows = o.count();
    return counts;
}

}  // namespace webook
