// Full validation: the row merge and the checksum path (validation.h).
//
// Resilience: the work moves a frontier -- every key up to it compared and
// its difference reported -- in key order, on both paths (the row merge
// decides keys in order; checksum chunks are consecutive key ranges, and a
// chunk that differs is merged row by row). A temporary error on any
// connection (a server restarting, a lost connection, a failover) ends the
// attempt; RetryBudget (core/base/retry.h) pauses, the sessions are dropped,
// and the next attempt goes on after the frontier on fresh ones -- so no key
// is reported twice or missed, and the counts are those of one uninterrupted
// run. Every few seconds the frontier is saved in the control table, after
// the sink delivered the events before it: `validate --full --resume` after a
// kill goes on from there, re-reporting at most the events of those seconds
// (the fixer takes a repeated event as a no-op).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <limits>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/base/retry.h"
#include "core/db/dialect.h"
#include "core/migration/checkpoint.h"
#include "core/migration/checkpoint_records.h"
#include "core/migration/event_sink.h"
#include "core/migration/prefetch.h"
#include "validate/checksum.h"
#include "validate/chunk_lead.h"
#include "validate/validation.h"
#include "validate/validator_parts.h"

namespace webook {

std::string_view method_name(Method m) {
    switch (m) {
    case Method::rows: return "rows";
    case Method::checksum: return "checksum";
    case Method::incremental: return "incremental";
    }
    return "rows";
}
namespace {

using Seconds = std::chrono::duration<double>;
constexpr auto k_checkpoint_every = std::chrono::seconds(5);

// How far the validation of one table got, across retries and runs: every
// key up to `after` decided and reported, with these counts.
struct Frontier {
    std::optional<Row> after;
    MergeCounts counts;
    std::uint64_t chunks = 0, chunks_differing = 0;
    bool merging = false;              // checksums: a differing chunk is being merged row by row...
    std::optional<Row> merging_up_to;  // ...up to here (none: to the end)
    bool done = false;                 // compared to the end
};

// Everything one table's validation works with.
struct Run {
    SideConnections conns;
    const TablePlan& plan;
    const ValidateOptions& options;
    const ShardFilter& src_filter;
    const ShardFilter& dst_filter;
    EventEmitter& emit;
    EventSink& sink;
    CheckpointStore* checkpoints;
    RetryBudget& budget;
    Method method;
    Frontier& at;
    std::chrono::steady_clock::time_point last_saved = std::chrono::steady_clock::now();
    std::optional<Row> farthest = std::nullopt;  // the farthest frontier of any attempt

    std::vector<ValueKind> key_kinds() const {
        return {plan.source.kinds.begin(), plan.source.kinds.begin() + static_cast<std::ptrdiff_t>(plan.key_size())};
    }

    // The frontier as its checkpoint record.
    FullValidationProgress record(const Frontier& f) const {
        FullValidationProgress r;
        r.table = plan.name;
        r.shard = options.shard.str();
        r.base = options.base;
        r.method = std::string(method_name(method));
        if (f.after) r.after = encode_key(*f.after);
        r.base_rows = f.counts.base_rows;
        r.other_rows = f.counts.other_rows;
        r.target_missing = f.counts.target_missing;
        r.neq = f.counts.neq;
        r.base_missing = f.counts.base_missing;
        r.chunks = f.chunks;
        r.chunks_differing = f.chunks_differing;
        r.merging = f.merging;
        if (f.merging && f.merging_up_to) r.merging_up_to = encode_key(*f.merging_up_to);
        r.finished = f.done;
        return r;
    }

    // The work moved to `f`: the outage, if any, is over; every few seconds
    // the events so far are delivered and then `f` is saved.
    void moved(const Frontier& f) {
        // Progress is the frontier passing the farthest key any attempt
        // reached: an attempt that fails again before it (a query that always
        // times out) is one outage, which the budget ends.
        if (f.done || (f.after && (!farthest || compare_key(*f.after, *farthest) > 0))) {
            farthest = f.after;
            budget.progressed();
        }
        if (!checkpoints) return;
        const auto now = std::chrono::steady_clock::now();
        if (now - last_saved < k_checkpoint_every) return;
        sink.flush();
        save_record(*checkpoints, record(f));
        last_saved = now;
    }

    // Merges (at.after, up_to] row by row, moving the frontier as it goes.
    void merge_to(const std::optional<Row>& up_to) {
        const bool base_is_target = options.base == BaseSide::dst;
        const KeyBounds bounds{at.after, up_to};
        ThrottledKeysetReader src(conns.source, plan.source, bounds, options.batch_size, options.throttle,
                                  src_filter.sql, src_filter.params, options.progress);
        ThrottledKeysetReader dst(conns.target, plan.target, bounds, options.batch_size, options.throttle,
                                  dst_filter.sql, dst_filter.params, options.progress);
        Prefetcher src_ahead(src), dst_ahead(dst);
        CanonicalSource src_rows(src_ahead, plan), dst_rows(dst_ahead, plan);
        BatchSource& base = base_is_target ? static_cast<BatchSource&>(dst_rows) : src_rows;
        BatchSource& other = base_is_target ? static_cast<BatchSource&>(src_rows) : dst_rows;
        MergeProgress progress;
        auto absorb = [&](const MergeProgress& p) {
            Frontier f = at;
            f.counts += p.counts;
            if (p.decided) f.after = p.decided;
            return f;
        };
        try {
            merge_sorted(
                base, other, plan.key_size(),
                [&](EventType type, const Row& key, const NeqDetail& neq) { emit(type, key, neq); }, &progress,
                [&](const MergeProgress& p) { moved(absorb(p)); });
        } catch (...) {
            at = absorb(progress);
            throw;
        }
        at = absorb(progress);
    }

    // --method auto: the next chunk_rows / 4 rows are compared both ways,
    // and the faster way takes the rest. They are hashed on both sides
    // (timed; the sums are not used), then merged row by row (timed; this
    // decides them, and their differences are reported as the row merge
    // reports them). The estimate per chunk counts what differences cost a
    // checksum run: a chunk that differs is hashed again in buckets
    // (split_differing) and its differing buckets merged. Checksums are
    // chosen only when estimated 1.25x faster: the row merge reads every
    // row once, whatever the data. `why` says what it measured.
    Method probe(std::optional<BaseSide> cutter, std::string& why) {
        using clock = std::chrono::steady_clock;
        auto seconds = [](clock::duration d) { return Seconds(d).count(); };
        if (at.merging) finish_merging();  // a differing chunk a failure interrupted
        const std::size_t rows = std::max<std::size_t>(1, options.chunk_rows / 4);
        KeyBounds slice{at.after, std::nullopt};
        double hash_seconds = 0;
        const auto t0 = clock::now();
        if (cutter) {
            // As by_leading_chunks runs: the cutting side, then the other,
            // overlapping chunk by chunk -- the slower of the two counts.
            const bool cut_on_target = *cutter == BaseSide::dst;
            Connection& cut_conn = cut_on_target ? conns.target : conns.source;
            const ShardFilter& cut_filter = cut_on_target ? dst_filter : src_filter;
            const ShardFilter& other_filter = cut_on_target ? src_filter : dst_filter;
            slice.up_to =
                run_leading_chunk(cut_conn, plan.side(*cutter), at.after, rows, cut_filter.sql, cut_filter.params)
                    .up_to;
            const auto t1 = clock::now();
            run_checksum(cut_on_target ? conns.source : conns.target, cut_on_target ? plan.source : plan.target, slice,
                         other_filter.sql, other_filter.params);
            hash_seconds = std::max(seconds(t1 - t0), seconds(clock::now() - t1));
        } else {
            const bool base_is_target = options.base == BaseSide::dst;
            Connection& base_conn = base_is_target ? conns.target : conns.source;
            const ShardFilter& base_filter = base_is_target ? dst_filter : src_filter;
            BoundSql end = chunk_end_query(base_conn.dialect(), plan.side(options.base), slice, rows, base_filter.sql,
                                           base_filter.params);
            if (auto last = base_conn.query_one(end.sql, end.params)) slice.up_to = std::move(*last);
            auto target_sum = std::async(std::launch::async, [&] {
                return run_checksum(conns.target, plan.target, slice, dst_filter.sql, dst_filter.params);
            });
            run_checksum(conns.source, plan.source, slice, src_filter.sql, src_filter.params);
            target_sum.get();
            hash_seconds = seconds(clock::now() - t0);
        }
        const MergeCounts before = at.counts;
        const auto t2 = clock::now();
        merge_to(slice.up_to);
        const double rows_seconds = seconds(clock::now() - t2);
        if (!slice.up_to) {
            at.done = true;
            why = fmt::format("rows: the table fit in the probe ({} rows)", at.counts.base_rows - before.base_rows);
            return Method::rows;
        }
        at.after = slice.up_to;  // every key up to it decided
        const double n = static_cast<double>(std::max<std::uint64_t>(1, at.counts.base_rows - before.base_rows));
        const double found = static_cast<double>(at.counts.differences() - before.differences());
        const double chunk = static_cast<double>(options.chunk_rows);
        double per_row_hash = hash_seconds / n, per_row_merge = rows_seconds / n;
        if (options.throttle.rows_per_second > 0) {
            // --rows-per-second paces both ways alike (the probe's hashes
            // were not paced).
            const double paced = 1 / options.throttle.rows_per_second;
            per_row_hash = std::max(per_row_hash, paced);
            per_row_merge = std::max(per_row_merge, paced);
        }
        const double density = found / n;
        const double differing = 1 - std::exp(-density * chunk);  // the chance that a chunk differs
        const bool splits = cutter && key_buckets_supported(plan.source) && key_buckets_supported(plan.target);
        const double merged = std::min(chunk, density * chunk * (splits ? chunk / 256 : chunk));
        const double by_checksum = chunk * per_row_hash * (1 + (splits ? differing : 0)) + merged * per_row_merge;
        const double by_rows = chunk * per_row_merge;
        const bool checksum = by_checksum * 1.25 < by_rows;
        why = fmt::format(
            "{}: the first {:.0f} rows took {:.1f} ms to hash (the slower side) and {:.1f} ms to merge row by row, "
            "with {:.0f} difference{}; per {:.0f}-row chunk about {:.1f} ms by checksums, {:.1f} ms by rows",
            checksum ? "checksum" : "rows", n, hash_seconds * 1e3, rows_seconds * 1e3, found, found == 1 ? "" : "s",
            chunk, by_checksum * 1e3, by_rows * 1e3);
        return checksum ? Method::checksum : Method::rows;
    }

    // The row merge: one pass from the frontier to the end.
    void by_rows() {
        merge_to(std::nullopt);
        at.done = true;
    }

    // Chunk by chunk, both servers busy all the time: one side (`cutter`,
    // cutting_side()) hashes its next chunk_rows rows and says where they
    // end, in one query, running ahead on a thread of its own (ChunkLead);
    // the other hashes each chunk once it is cut. Only chunks that differ
    // are merged row by row. For keys of one integer column (the common `id
    // BIGINT`, dense or not); other keys take by_checksum.
    void by_leading_chunks(BaseSide cutter) {
        const bool cut_on_target = cutter == BaseSide::dst;
        Connection& cut_conn = cut_on_target ? conns.target : conns.source;
        Connection& other_conn = cut_on_target ? conns.source : conns.target;
        const SidePlan& cut_side = plan.side(cutter);
        const SidePlan& other_side = cut_on_target ? plan.source : plan.target;
        const ShardFilter& cut_filter = cut_on_target ? dst_filter : src_filter;
        const ShardFilter& other_filter = cut_on_target ? src_filter : dst_filter;
        const bool cut_is_base = cutter == options.base;
        Throttle throttle(options.throttle);  // a rate only: nothing is asked of a connection
        if (at.merging) finish_merging();     // a differing chunk a failure interrupted
        if (at.done) return;
        ChunkLead lead(
            [&](const std::optional<Row>& after) {
                return run_leading_chunk(cut_conn, cut_side, after, options.chunk_rows, cut_filter.sql,
                                         cut_filter.params);
            },
            at.after);
        while (!at.done) {
            check_interrupted();
            const LeadingChunk cut = lead.next();
            // The final chunk is open-ended: it catches the other side's rows
            // past the cutting side's last key.
            const KeyBounds chunk{at.after, cut.up_to};
            const ChunkChecksum other =
                run_checksum(other_conn, other_side, chunk, other_filter.sql, other_filter.params);
            const ChunkChecksum& base_sum = cut_is_base ? cut.sum : other;
            settle(chunk, base_sum, cut_is_base ? other : cut.sum, [&] {
                // The merge reads on both connections: the cutting side
                // stops after its query in flight; the chunks it cut ahead
                // are used after the merge.
                lead.pause();
                split_differing(cutter, chunk, cut, other);
                lead.resume();
            });
            throttle.after_rows(static_cast<std::uint64_t>(base_sum.rows));
            moved(at);
        }
    }

    // Chunk by chunk: the base's keys fix the chunk boundaries; both sides
    // hash the chunk at once; only chunks that differ are merged row by row.
    void by_checksum() {
        const bool base_is_target = options.base == BaseSide::dst;
        Connection& base_conn = base_is_target ? conns.target : conns.source;
        const SidePlan& base_side = plan.side(options.base);
        const ShardFilter& base_filter = base_is_target ? dst_filter : src_filter;
        Throttle throttle(options.throttle);
        if (at.merging) finish_merging();  // a differing chunk a failure interrupted
        while (!at.done) {
            check_interrupted();
            throttle.before_batch(base_conn);
            // The chunk's upper key: the last of the next chunk_rows base keys.
            BoundSql end = chunk_end_query(base_conn.dialect(), base_side, KeyBounds{at.after, std::nullopt},
                                           options.chunk_rows, base_filter.sql, base_filter.params);
            auto last = base_conn.query_one(end.sql, end.params);
            KeyBounds chunk{at.after, std::nullopt};
            // The final chunk is open-ended: it catches rows past the base's last key.
            if (last) chunk.up_to = std::move(*last);

            auto other_sum = std::async(std::launch::async, [&] {
                return base_is_target
                           ? run_checksum(conns.source, plan.source, chunk, src_filter.sql, src_filter.params)
                           : run_checksum(conns.target, plan.target, chunk, dst_filter.sql, dst_filter.params);
            });
            ChunkChecksum base_sum = run_checksum(base_conn, base_side, chunk, base_filter.sql, base_filter.params);
            settle(chunk, base_sum, other_sum.get(), [&] { finish_merging(); });
            throttle.after_rows(static_cast<std::uint64_t>(base_sum.rows));
            moved(at);
        }
    }

    // A chunk that differs, of a key of one signed integer column on both
    // sides: split by key value into up to k_buckets ranges, which both
    // sides hash at once (one query each); only the ranges that differ are
    // merged row by row. A chunk with a few differences then moves a few
    // hundred rows over the link, not chunk_rows. (The cutting side has no
    // row before the chunk's first key or after its last, so those ends are
    // merged as they are: a row the other side holds there is a difference.)
    // Any other chunk is merged whole.
    void split_differing(BaseSide cutter, const KeyBounds& chunk, const LeadingChunk& cut,
                         const ChunkChecksum& other_sum) {
        constexpr std::int64_t k_buckets = 256;
        constexpr std::int64_t k_smallest_split = 64;  // rows below which a chunk is merged whole
        const bool cut_on_target = cutter == BaseSide::dst;
        const SidePlan& cut_side = plan.side(cutter);
        const SidePlan& other_side = cut_on_target ? plan.source : plan.target;
        // The chunk's ends as numbers: after its first key's predecessor and
        // up to its last key where it is open.
        auto integer_at = [](const std::optional<Row>& key, const std::optional<Value>& fallback, __int128 shift,
                             __int128& out) {
            const Value* v = key ? (key->empty() ? nullptr : &key->front()) : (fallback ? &*fallback : nullptr);
            if (!v || v->kind() != ValueKind::integer) return false;
            out = __int128(v->as_int()) + (key ? 0 : shift);
            return true;
        };
        __int128 low = 0, high = 0;
        const bool splits = key_buckets_supported(cut_side) && key_buckets_supported(other_side) &&
                            integer_at(chunk.after, cut.first, -1, low) && integer_at(chunk.up_to, cut.last, 0, high) &&
                            low >= std::numeric_limits<std::int64_t>::min() && high > low &&
                            high - low <= std::numeric_limits<std::int64_t>::max() &&
                            std::max(cut.sum.rows, other_sum.rows) > k_smallest_split;
        if (!splits) {
            finish_merging();
            return;
        }
        const auto span = static_cast<std::int64_t>(high - low);
        KeyBuckets b;
        b.low = static_cast<std::int64_t>(low);
        b.high = static_cast<std::int64_t>(high);
        b.width = span / k_buckets + (span % k_buckets != 0);
        Connection& cut_conn = cut_on_target ? conns.target : conns.source;
        Connection& other_conn = cut_on_target ? conns.source : conns.target;
        const ShardFilter& cut_filter = cut_on_target ? dst_filter : src_filter;
        const ShardFilter& other_filter = cut_on_target ? src_filter : dst_filter;
        auto other_async = std::async(std::launch::async, [&] {
            return run_buckets(other_conn, other_side, b, other_filter.sql, other_filter.params);
        });
        const auto cut_buckets = run_buckets(cut_conn, cut_side, b, cut_filter.sql, cut_filter.params);
        const auto other_buckets = other_async.get();
        const bool cut_is_base = cutter == options.base;
        const auto& base_buckets = cut_is_base ? cut_buckets : other_buckets;
        const auto& others = cut_is_base ? other_buckets : cut_buckets;
        auto key_at = [](std::int64_t v) { return std::optional<Row>(Row{Value::integer(v)}); };

        if (!chunk.after) merge_to(key_at(b.low));  // the other side's rows before the cutting side's first
        const ChunkChecksum none;
        std::optional<std::int64_t> differing_from;  // the first bucket of a run of differing ones
        auto merge_run = [&](std::int64_t last_bucket) {
            at.after = key_at(*differing_from == 0 ? b.low : b.end_of(*differing_from - 1));
            merge_to(key_at(b.end_of(last_bucket)));
            differing_from.reset();
        };
        const std::int64_t count = b.count();
        for (std::int64_t i = 0; i < count; ++i) {
            const auto in_base = base_buckets.find(i);
            const auto in_other = others.find(i);
            const ChunkChecksum& base_sum = in_base == base_buckets.end() ? none : in_base->second;
            const ChunkChecksum& other = in_other == others.end() ? none : in_other->second;
            if (base_sum == other) {
                if (differing_from) merge_run(i - 1);
                at.counts.base_rows += static_cast<std::uint64_t>(base_sum.rows);
                at.counts.other_rows += static_cast<std::uint64_t>(other.rows);
                continue;
            }
            if (!differing_from) differing_from = i;
        }
        if (differing_from) merge_run(count - 1);
        at.after = key_at(b.high);
        if (!chunk.up_to) merge_to(std::nullopt);  // the other side's rows past the cutting side's last
        at.merging = false;
        at.done = !chunk.up_to;
        if (chunk.up_to) at.after = chunk.up_to;
        at.merging_up_to.reset();
    }

    // A chunk's sums are in: equal, the chunk is decided; else it is merged
    // row by row (`merge` runs finish_merging, with whatever must stop for it).
    template <typename Merge>
    void settle(const KeyBounds& chunk, const ChunkChecksum& base_sum, const ChunkChecksum& other_sum, Merge&& merge) {
        ++at.chunks;
        if (base_sum == other_sum) {
            at.counts.base_rows += static_cast<std::uint64_t>(base_sum.rows);
            at.counts.other_rows += static_cast<std::uint64_t>(other_sum.rows);
            at.after = chunk.up_to;
            at.done = !chunk.up_to;
            return;
        }
        ++at.chunks_differing;
        at.merging = true;
        at.merging_up_to = chunk.up_to;
        merge();
    }

    void finish_merging() {
        merge_to(at.merging_up_to);
        at.merging = false;
        at.done = !at.merging_up_to;
        if (at.merging_up_to) at.after = at.merging_up_to;
        at.merging_up_to.reset();
    }
};

// The side that cuts the checksum chunks as it hashes them: the base, if its
// key is one integer column, else the other side if its is. None: no side
// can (by_checksum). (Cutting on PostgreSQL, whose LIMIT subquery streams
// where MariaDB materializes it, measured no faster: bench/RESULTS.md.)
std::optional<BaseSide> cutting_side(const TablePlan& plan, BaseSide base) {
    const BaseSide other = base == BaseSide::src ? BaseSide::dst : BaseSide::src;
    for (BaseSide side : {base, other})
        if (leading_chunks_supported(plan.side(side))) return side;
    return std::nullopt;
}

// The frontier a --resume goes on from, if the table's checkpoint fits.
std::optional<Frontier> resumed(CheckpointStore& checkpoints, const TablePlan& plan, const ValidateOptions& options,
                                const std::vector<ValueKind>& key_kinds) {
    auto kept = load_record<FullValidationProgress>(checkpoints, plan.name, options.shard.str());
    if (!kept) return std::nullopt;
    if (kept->base != options.base) {
        log::get("validate")
            ->warn("{}: the checkpoint was made with base {}, this run's is {}: starting over", plan.name,
                   base_side_name(kept->base), base_side_name(options.base));
        return std::nullopt;
    }
    Frontier f;
    try {
        if (kept->after) f.after = decode_key(*kept->after, key_kinds);
        if (kept->merging && kept->merging_up_to) f.merging_up_to = decode_key(*kept->merging_up_to, key_kinds);
    } catch (const Error& e) {
        log::get("validate")->warn("{}: the checkpoint does not fit the key ({}): starting over", plan.name, e.what());
        return std::nullopt;
    }
    f.counts = {kept->base_rows, kept->other_rows, kept->target_missing, kept->neq, kept->base_missing};
    f.chunks = kept->chunks;
    f.chunks_differing = kept->chunks_differing;
    f.merging = kept->merging;
    f.done = kept->finished;
    return f;
}

}  // namespace

void forget_full_progress(CheckpointStore& checkpoints, const std::string& table, const Shard& shard) {
    checkpoints.clear(FullValidationProgress::k_kind, table, shard.str());
}

TableReport validate_full(SideConnections conns, const TablePlan& plan, const ValidateOptions& options, EventSink& sink,
                          CheckpointStore* checkpoints) {
    options.validate();
    const auto started = std::chrono::steady_clock::now();
    const auto* logger = log::get("validate");
    ShardFilter src_filter, dst_filter;
    if (!options.shard.whole()) {
        if (!checkpoints) throw Error(Code::internal, "validate_full: a shard without the control table's plans");
        auto range = shard_range(conns, plan, options.shard, *checkpoints);
        src_filter = shard_filter(conns.source.dialect(), plan.source, range);
        dst_filter = shard_filter(conns.target.dialect(), plan.target, range);
    }
    const bool automatic = options.checksum == ChecksumMode::automatic;
    bool use_checksum = options.checksum != ChecksumMode::off;
    std::string why, choice;
    if (use_checksum && !checksum_supported(plan, &why)) {
        if (automatic)
            choice = fmt::format("rows: checksums are not exact here ({})", why);
        else
            logger->warn("{}: checksums are not exact here ({}); comparing rows instead", plan.name, why);
        use_checksum = false;
    }
    if (use_checksum && (key_order_unindexed(plan.source) || key_order_unindexed(plan.target))) {
        // Asked for, so done -- but each chunk bound scans the table, since
        // no index gives the key's byte order; the row merge reads it once.
        if (automatic) {
            choice =
                "rows: no index gives the key's byte order (a text key in a non-binary collation), so every "
                "checksum chunk would scan the table";
            use_checksum = false;
        } else {
            logger->warn(
                "{}: no index gives the key's byte order here (a text key in a non-binary "
                "collation): every checksum chunk scans the table; without --checksum the "
                "rows are compared in one pass",
                plan.name);
        }
    }
    // --method auto, where checksums would work: the first rows decide.
    bool probing = automatic && use_checksum;

    // Where the key allows, one side cuts the chunks as it hashes them,
    // unless the throttle probes the base's load on a connection that would
    // be busy with the next chunk.
    const std::optional<BaseSide> cutter =
        use_checksum && options.throttle.max_load.empty() ? cutting_side(plan, options.base) : std::nullopt;

    // The events say which method found them ("validator": "checksum" or "full").
    TableReport report;
    report.table = plan.name;
    report.method_choice = choice;
    EventEmitter emit(plan, options.base, use_checksum && !probing ? "checksum" : "full", sink, options.progress,
                      &report, options.event_values);
    report.method = use_checksum && !probing ? Method::checksum : Method::rows;
    const std::string what = fmt::format("validating {}", plan.name);
    RetryBudget budget(options.retry_for, Clock::real(), what);
    Frontier at;
    if (checkpoints) {
        // Where to start: the checkpoint with --resume, else the start (and
        // a checkpoint an earlier run left is forgotten).
        std::optional<Frontier> kept;
        if (options.resume == Resume::yes) {
            const std::vector<ValueKind> key_kinds(
                plan.source.kinds.begin(), plan.source.kinds.begin() + static_cast<std::ptrdiff_t>(plan.key_size()));
            kept = resumed(*checkpoints, plan, options, key_kinds);
        }
        if (kept) {
            at = *kept;
            report.resumed_after = at.after ? encode_key(*at.after) : "";
            report.resumed_rows = at.counts.base_rows + at.counts.other_rows;
            logger->info("{}: resuming after key {} ({} rows compared before, {} differences)", plan.name,
                         report.resumed_after.empty() ? "(none)" : report.resumed_after, report.resumed_rows,
                         at.counts.differences());
        } else {
            checkpoints->clear(FullValidationProgress::k_kind, plan.name, options.shard.str());
        }
    }
    Run run{conns, plan, options, src_filter, dst_filter, emit, sink, checkpoints, budget, report.method, at};
    if (at.done) {
        logger->info("{}: compared to its end by the interrupted run; its counts stand", plan.name);
    } else {
        try {
            with_context(what, [&] {
                run_resumable(
                    budget,
                    [&] {
                        if (probing) {
                            report.method = run.method = run.probe(cutter, report.method_choice);
                            probing = false;  // decided, for the retries too
                            use_checksum = report.method == Method::checksum;
                            if (use_checksum) emit.set_validator("checksum");
                            logger->info("{}: --method auto chose {}", plan.name, report.method_choice);
                        }
                        if (at.done) return;
                        if (!use_checksum)
                            run.by_rows();
                        else if (cutter)
                            run.by_leading_chunks(*cutter);
                        else
                            run.by_checksum();
                    },
                    [&] {
                        return reset_sessions(
                            {&conns.source, &conns.target, checkpoints ? &checkpoints->connection() : nullptr});
                    });
            });
        } catch (...) {
            // Ended (a permanent error, the budget spent, a signal): keep how
            // far it got for --resume, if the control database is there.
            if (checkpoints) {
                try {
                    sink.flush();
                    save_record(*checkpoints, run.record(at));
                } catch (const std::exception&) {
                    // the periodic checkpoint stands
                }
            }
            throw;
        }
        if (checkpoints) {
            // The events are delivered before the table is marked compared.
            sink.flush();
            save_record(*checkpoints, run.record(at));
        }
    }
    report.counts = at.counts;
    report.chunks = at.chunks;
    report.chunks_differing = at.chunks_differing;
    const RetryReport retried = budget.report();
    report.retries = retried.retries;
    report.longest_outage_seconds = Seconds(retried.longest_outage).count();
    report.seconds = Seconds(std::chrono::steady_clock::now() - started).count();
    return report;
}

}  // namespace webook
