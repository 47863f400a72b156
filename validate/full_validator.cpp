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
#include <chrono>
#include <future>

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
                finish_merging();
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
    bool use_checksum = options.checksum == ChecksumMode::on;
    std::string why;
    if (use_checksum && !checksum_supported(plan, &why)) {
        logger->warn("{}: checksums are not exact here ({}); comparing rows instead", plan.name, why);
        use_checksum = false;
    }
    if (use_checksum && (key_order_unindexed(plan.source) || key_order_unindexed(plan.target)))
        // Asked for, so done -- but each chunk bound scans the table, since
        // no index gives the key's byte order; the row merge reads it once.
        logger->warn(
            "{}: no index gives the key's byte order here (a text key in a non-binary "
            "collation): every checksum chunk scans the table; without --checksum the "
            "rows are compared in one pass",
            plan.name);

    // Where the key allows, one side cuts the chunks as it hashes them,
    // unless the throttle probes the base's load on a connection that would
    // be busy with the next chunk.
    const std::optional<BaseSide> cutter =
        use_checksum && options.throttle.max_load.empty() ? cutting_side(plan, options.base) : std::nullopt;

    // The events say which method found them ("validator": "checksum" or "full").
    TableReport report;
    report.table = plan.name;
    EventEmitter emit(plan, options.base, use_checksum ? "checksum" : "full", sink, options.progress, &report,
                      options.event_values);
    report.method = use_checksum ? Method::checksum : Method::rows;
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
