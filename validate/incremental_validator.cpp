// Incremental validation (validation.h): rows changed since the watermark.
//
// Checkpoint protocol: the watermark `hi` is read from the base server's
// clock before scanning; rows with update time in (lo - overlap, hi] are
// compared, both sides in step in (update time, key) order; events are
// flushed; only then is the new watermark saved. While the scans run, every
// few seconds the watermark moves to just before both scans' positions (held
// before any difference found and not yet reported): a run killed part-way
// is repeated from there, not from the window's start.
//
// The watermark never moves past a difference that is still there: when a
// pass reports differences, the new watermark is just before the oldest
// update time among them, so the next pass compares those rows again -- equal
// once the fixer has repaired them (a fix copies the base row, update time
// included), reported again if not. So a clean pass means that every row
// changed since the last clean pass matches on both sides, which is what the
// switch gates rely on (migrate/gates.h), not merely that nothing new differs.
#include <chrono>
#include <future>
#include <map>
#include <thread>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/base/retry.h"
#include "core/db/dialect.h"
#include "core/migration/checkpoint.h"
#include "core/migration/checkpoint_records.h"
#include "core/migration/event_sink.h"
#include "core/migration/keyset.h"
#include "validate/validation.h"
#include "validate/validator_parts.h"

namespace webook {
namespace {

// The side's rows ordered by (update time, key): the index on the update
// column (which InnoDB extends with the primary key) serves this order.
SidePlan change_order(const SidePlan& side) {
    SidePlan p;
    p.table = side.table;
    auto add = [&](std::size_t i) {
        p.columns.push_back(side.columns[i]);
        p.kinds.push_back(side.kinds[i]);
        p.decimal_scales.push_back(side.decimal_scales[i]);
        p.binary_collation.push_back(side.binary_collation[i]);
    };
    std::size_t update_index = side.columns.size();
    for (std::size_t i = 0; i < side.columns.size(); ++i)
        if (side.columns[i] == side.update_column) update_index = i;
    if (update_index == side.columns.size())
        throw Error(Code::config,
                    fmt::format("update column {} of {} is ignored or not compared", side.update_column, side.table));
    add(update_index);
    for (std::size_t i = 0; i < side.key.size(); ++i) add(i);
    p.key = p.columns;
    return p;
}

// The update time one unit (a microsecond, or a millisecond for integer
// times) before `t`: a window (watermark - overlap, ...] then includes `t`
// whatever the overlap.
Value just_before(const Value& t) {
    if (t.kind() == ValueKind::datetime) return Value::datetime_micros(t.micros() - 1);
    return Value::integer(t.as_int() - 1);
}

ValueKind update_kind(const SidePlan& side) {
    for (std::size_t i = 0; i < side.columns.size(); ++i)
        if (side.columns[i] == side.update_column) return side.kinds[i];
    return ValueKind::datetime;
}

// `t` moved back by the overlap, in the update column's own units.
Value minus_overlap(const Value& t, std::chrono::seconds overlap) {
    if (t.kind() == ValueKind::datetime) return Value::datetime_micros(t.micros() - overlap.count() * 1'000'000);
    // Integer update times are taken as milliseconds since the epoch (webook's Go convention).
    return Value::integer(t.as_int() - overlap.count() * 1000);
}

// Compares both sides' rows for `keys`, calling on_diff for each difference.
void compare_keys(SideConnections conns, const TablePlan& plan, BaseSide base, const std::vector<Row>& keys,
                  const DifferenceFn& on_diff) {
    if (keys.empty()) return;
    auto fetch = [&](Connection& conn, const SidePlan& side) {
        BoundSql q = key_lookup_query(conn.dialect(), side, keys);
        return conn.query(q.sql, q.params);
    };
    // Both sides at once: each lookup is a round trip of its own server's.
    // (Should the target's throw, the future's destructor waits for the source's.)
    auto src_future = std::async(std::launch::async, [&] { return fetch(conns.source, plan.source); });
    auto dst_rows = fetch(conns.target, plan.target);
    auto src_rows = src_future.get();
    struct VectorSource final : BatchSource {
        std::vector<Row> rows;
        bool done = false;
        bool next(std::vector<Row>& out) override {
            out.clear();
            if (done || rows.empty()) return false;
            out = std::move(rows);
            done = true;
            return true;
        }
    };
    VectorSource s, d;
    s.rows = std::move(src_rows);
    d.rows = std::move(dst_rows);
    canonicalize_rows(s.rows, plan);
    canonicalize_rows(d.rows, plan);
    // key_lookup_query orders by key in binary order, as the merge needs.
    if (base == BaseSide::src)
        merge_sorted(s, d, plan.key_size(), on_diff);
    else
        merge_sorted(d, s, plan.key_size(), on_diff);
}

// One attempt at the table's window, from the checkpoint to the base's clock.
TableReport incremental_once(SideConnections conns, const TablePlan& plan, const ValidateOptions& options,
                             EventSink& sink, CheckpointStore& checkpoints) {
    const auto started = std::chrono::steady_clock::now();
    if (plan.source.update_column.empty())
        throw Error(Code::config, fmt::format("table {} has no update-time column: configure update_column "
                                              "(default: utime)",
                                              plan.name));
    const bool base_is_target = options.base == BaseSide::dst;
    Connection& base_conn = base_is_target ? conns.target : conns.source;
    const ValueKind kind = update_kind(plan.source);
    const std::string shard = options.shard.str();
    const ShardRange range = shard_range(conns, plan, options.shard, checkpoints);

    // The window (lo, hi]: lo from --since or the checkpoint, minus the overlap.
    std::optional<Value> lo;
    if (options.since) {
        try {
            lo = Value::parse(kind, *options.since);
        } catch (const Error&) {
            throw Error(Code::usage, fmt::format("--since '{}' is not a {} value", *options.since, kind_name(kind)));
        }
    } else if (auto cp = load_record<IncrementalWatermark>(checkpoints, plan.name, shard)) {
        lo = minus_overlap(Value::parse(kind, cp->watermark), options.overlap);
    }
    // hi: the base server's clock for timestamps (the platform's writes are
    // stamped by the same kind of clock); ours for integer milliseconds.
    Value hi = kind == ValueKind::datetime
                   ? (*base_conn.query_one(fmt::format("SELECT {}", base_conn.dialect().now())))[0]
                   : Value::integer(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());

    TableReport report;
    report.table = plan.name;
    report.method = Method::incremental;
    EventEmitter emit(plan, options.base, "incremental", sink, options.progress, &report, options.event_values);

    // Differences found, to re-check (and report) once; a key changed on
    // both sides is compared once.
    // Each key with the update time that brought it into the window.
    std::map<Row, Value, decltype([](const Row& a, const Row& b) { return compare_key(a, b) < 0; })> checked;
    // A difference as found: for a neq, the columns that differ and (for
    // --event-values) both rows.
    struct Found {
        EventType type;
        Row key;
        std::vector<std::size_t> columns;
        Row base, other;
    };
    auto found_of = [&](EventType t, const Row& k, const NeqDetail& neq) {
        Found f{t, k, neq.columns, {}, {}};
        if (options.event_values && neq.base && neq.other) {
            f.base = *neq.base;
            f.other = *neq.other;
        }
        return f;
    };
    std::vector<Found> found;
    // One side's changes in (lo, hi], in (update time, key) order.
    struct ChangeScan {
        Connection& conn;
        std::unique_ptr<SidePlan> order;  // the reader's, kept where it is
        std::unique_ptr<KeysetReader> reader;
        Throttle throttle;
        std::optional<Value> at;  // the update time of the last row read
        bool ended = false;
        std::uint64_t rows = 0;
    };
    auto open_scan = [&](Connection& conn, const SidePlan& side) {
        auto order = std::make_unique<SidePlan>(change_order(side));
        const Dialect& d = conn.dialect();
        std::vector<Value> params;
        std::string filter;
        const std::string col = d.quote(side.update_column);
        if (lo) {
            params.push_back(*lo);
            filter = fmt::format("{} > {} AND ", col, d.placeholder(1));
        }
        params.push_back(hi);
        filter += fmt::format("{} <= {}", col, d.placeholder(static_cast<int>(params.size())));
        if (std::string in_shard = shard_condition(d, side, range, params); !in_shard.empty())
            filter += " AND " + in_shard;
        auto reader = std::make_unique<KeysetReader>(conn, *order, KeyBounds{}, options.batch_size, filter, params);
        return ChangeScan{conn, std::move(order), std::move(reader), Throttle(options.throttle), std::nullopt};
    };
    // Reads one batch of `scan` and compares its keys on both sides.
    auto step = [&](ChangeScan& scan) {
        std::vector<Row> batch;
        scan.throttle.before_batch(scan.conn);
        if (!scan.reader->next(batch)) {
            scan.ended = true;
            return;
        }
        check_interrupted();
        scan.rows += batch.size();
        scan.at = batch.back()[0];
        if (options.progress) options.progress->rows += batch.size();
        std::vector<Row> keys;
        for (const Row& r : batch) {
            Row key(r.begin() + 1, r.end());
            if (checked.emplace(key, r[0]).second) keys.push_back(std::move(key));
        }
        compare_keys(conns, plan, options.base, keys,
                     [&](EventType t, const Row& k, const NeqDetail& neq) { found.push_back(found_of(t, k, neq)); });
        scan.throttle.after_rows(batch.size());
    };
    // Every change before both scans' positions has been compared; the
    // watermark may move there -- but never past a difference found and not
    // yet reported (they are reported at the end, after the re-check).
    auto watermark_now = [&](const ChangeScan& a, const ChangeScan& b) -> std::optional<Value> {
        Value w = hi;
        for (const ChangeScan* scan : {&a, &b})
            if (!scan->ended) {
                if (!scan->at) return std::nullopt;  // nothing of that side compared yet
                const Value before = just_before(*scan->at);
                if (compare_key(before, w) < 0) w = before;
            }
        for (const auto& f : found) {
            auto at = checked.find(f.key);
            if (at != checked.end() && compare_key(at->second, w) <= 0) w = just_before(at->second);
        }
        return w;
    };
    with_context(fmt::format("validating {} incrementally", plan.name), [&] {
        // Both sides in step, the one behind first, so that the watermark can
        // move as batches complete: a run killed part-way goes on near where
        // it stopped (every few seconds the watermark is saved).
        ChangeScan src = open_scan(conns.source, plan.source);
        ChangeScan dst = open_scan(conns.target, plan.target);
        auto last_saved = std::chrono::steady_clock::now();
        std::optional<Value> saved;
        while (!src.ended || !dst.ended) {
            const bool src_behind =
                dst.ended || (!src.ended && (!src.at || (dst.at && compare_key(*src.at, *dst.at) <= 0)));
            step(src_behind ? src : dst);
            if (std::chrono::steady_clock::now() - last_saved < std::chrono::seconds(5)) continue;
            last_saved = std::chrono::steady_clock::now();
            const std::optional<Value> w = watermark_now(src, dst);
            if (!w || (lo && compare_key(*w, *lo) <= 0) || (saved && compare_key(*w, *saved) <= 0)) continue;
            save_record(checkpoints, IncrementalWatermark{plan.name, shard, w->canonical(), 0, 0, 0, 0});
            saved = w;
        }
        const std::uint64_t src_rows = src.rows;
        const std::uint64_t dst_rows = dst.rows;
        report.counts.base_rows = base_is_target ? dst_rows : src_rows;
        report.counts.other_rows = base_is_target ? src_rows : dst_rows;

        // A double-write in flight can make a row differ for a moment: look again.
        if (!found.empty() && options.recheck_after.count() > 0) {
            log::get("validate")
                ->info("{}: {} differences; re-checking in {} ms", plan.name, found.size(),
                       options.recheck_after.count());
            auto until = std::chrono::steady_clock::now() + options.recheck_after;
            while (std::chrono::steady_clock::now() < until) {
                check_interrupted();
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            std::vector<Row> keys;
            for (auto& f : found) keys.push_back(f.key);
            std::vector<Found> still;
            for (std::size_t i = 0; i < keys.size(); i += options.batch_size) {
                std::vector<Row> part(
                    keys.begin() + static_cast<std::ptrdiff_t>(i),
                    keys.begin() + static_cast<std::ptrdiff_t>(std::min(keys.size(), i + options.batch_size)));
                compare_keys(conns, plan, options.base, part, [&](EventType t, const Row& k, const NeqDetail& neq) {
                    still.push_back(found_of(t, k, neq));
                });
            }
            report.rechecked_away = found.size() - still.size();
            found = std::move(still);
        }
        for (const auto& f : found) {
            NeqDetail neq{f.columns, f.base.empty() ? nullptr : &f.base, f.other.empty() ? nullptr : &f.other};
            emit(f.type, f.key, neq);
            if (f.type == EventType::target_missing)
                ++report.counts.target_missing;
            else if (f.type == EventType::neq)
                ++report.counts.neq;
            else
                ++report.counts.base_missing;
        }
    });

    // Events first, then the watermark: a crash in between repeats the window.
    sink.flush();
    Value watermark = hi;
    for (const auto& f : found) {
        auto at = checked.find(f.key);
        if (at != checked.end() && compare_key(at->second, watermark) <= 0) watermark = just_before(at->second);
    }
    report.watermark = watermark.canonical();
    report.held_back = !found.empty();
    save_record(checkpoints, IncrementalWatermark{
                                 plan.name, shard, report.watermark, static_cast<std::int64_t>(report.counts.base_rows),
                                 report.counts.target_missing, report.counts.neq, report.counts.base_missing});
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return report;
}

}  // namespace

TableReport validate_incremental(SideConnections conns, const TablePlan& plan, const ValidateOptions& options,
                                 EventSink& sink, CheckpointStore& checkpoints) {
    options.validate();
    const auto started = std::chrono::steady_clock::now();
    // A server that goes away: the window is compared again from its start on
    // fresh sessions. Its events are sent only once it was compared whole, so
    // none is sent twice (unless the sink itself failed part-way).
    RetryBudget budget(options.retry_for, Clock::real(), fmt::format("validating {} incrementally", plan.name));
    TableReport report = run_resumable(
        budget, [&] { return incremental_once(conns, plan, options, sink, checkpoints); },
        [&] {
            return reset_sessions({&conns.source, &conns.target, &checkpoints.connection()});
        });
    const RetryReport retried = budget.report();
    report.retries = retried.retries;
    report.longest_outage_seconds = std::chrono::duration<double>(retried.longest_outage).count();
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return report;
}

}  // namespace webook
