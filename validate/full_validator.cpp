// Full validation: the row merge and the checksum path (validation.h).
#include <chrono>
#include <future>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/db/dialect.h"
#include "core/migration/event_sink.h"
#include "core/migration/prefetch.h"
#include "validate/checksum.h"
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

// Merges one key range of both sides, reading them concurrently.
MergeCounts merge_range(SideConnections conns, const TablePlan& plan, const ValidateOptions& options,
                        const KeyBounds& bounds, const ShardFilter& src_filter, const ShardFilter& dst_filter,
                        EventEmitter& emit) {
    const bool base_is_target = options.base == BaseSide::dst;
    ThrottledKeysetReader src(conns.source, plan.source, bounds, options.batch_size, options.throttle, src_filter.sql,
                              src_filter.params, options.progress);
    ThrottledKeysetReader dst(conns.target, plan.target, bounds, options.batch_size, options.throttle, dst_filter.sql,
                              dst_filter.params, options.progress);
    Prefetcher src_ahead(src), dst_ahead(dst);
    BatchSource& base = base_is_target ? static_cast<BatchSource&>(dst_ahead) : src_ahead;
    BatchSource& other = base_is_target ? static_cast<BatchSource&>(src_ahead) : dst_ahead;
    return merge_sorted(base, other, plan.key_size(), [&](EventType type, const Row& key) { emit(type, key); });
}

TableReport validate_by_rows(SideConnections conns, const TablePlan& plan, const ValidateOptions& options,
                             const ShardFilter& src_filter, const ShardFilter& dst_filter, EventEmitter& emit) {
    TableReport report;
    report.method = Method::rows;
    report.counts = merge_range(conns, plan, options, {}, src_filter, dst_filter, emit);
    return report;
}

// Chunk by chunk: the base's keys fix the chunk boundaries; both sides hash
// the chunk at once; only chunks that differ are merged row by row.
TableReport validate_by_checksum(SideConnections conns, const TablePlan& plan, const ValidateOptions& options,
                                 const ShardFilter& src_filter, const ShardFilter& dst_filter, EventEmitter& emit) {
    TableReport report;
    report.method = Method::checksum;
    const bool base_is_target = options.base == BaseSide::dst;
    Connection& base_conn = base_is_target ? conns.target : conns.source;
    const SidePlan& base_side = plan.side(options.base);
    const ShardFilter& base_filter = base_is_target ? dst_filter : src_filter;
    Throttle throttle(options.throttle);

    std::optional<Row> lower;  // exclusive
    bool last = false;
    while (!last) {
        check_interrupted();
        throttle.before_batch(base_conn);
        // The chunk's upper key: the last of the next chunk_rows base keys.
        KeyBounds probe{lower, std::nullopt};
        BoundSql keys = keyset_query(base_conn.dialect(), base_side, probe, options.chunk_rows, true, base_filter.sql,
                                     base_filter.params);
        auto rows = base_conn.query(keys.sql, keys.params);
        KeyBounds chunk{lower, std::nullopt};
        if (rows.size() == options.chunk_rows)
            chunk.up_to = rows.back();
        else
            last = true;  // the final chunk is open-ended: it catches rows past the base's last key

        auto other_sum = std::async(std::launch::async, [&] {
            return base_is_target ? run_checksum(conns.source, plan.source, chunk, src_filter.sql, src_filter.params)
                                  : run_checksum(conns.target, plan.target, chunk, dst_filter.sql, dst_filter.params);
        });
        ChunkChecksum base_sum = run_checksum(base_conn, base_side, chunk, base_filter.sql, base_filter.params);
        ChunkChecksum other = other_sum.get();
        ++report.chunks;
        if (base_sum == other) {
            report.counts.base_rows += static_cast<std::uint64_t>(base_sum.rows);
            report.counts.other_rows += static_cast<std::uint64_t>(other.rows);
        } else {
            ++report.chunks_differing;
            report.counts += merge_range(conns, plan, options, chunk, src_filter, dst_filter, emit);
        }
        throttle.after_rows(static_cast<std::uint64_t>(base_sum.rows));
        lower = chunk.up_to;
    }
    return report;
}

}  // namespace

TableReport validate_full(SideConnections conns, const TablePlan& plan, const ValidateOptions& options, EventSink& sink,
                          CheckpointStore* shard_plans) {
    options.validate();
    const auto started = std::chrono::steady_clock::now();
    EventEmitter emit(plan, options.base, "full", sink, options.progress);
    ShardFilter src_filter, dst_filter;
    if (!options.shard.whole()) {
        if (!shard_plans) throw Error(Code::internal, "validate_full: a shard without the control table's plans");
        auto range = shard_range(conns, plan, options.shard, *shard_plans);
        src_filter = shard_filter(conns.source.dialect(), plan.source, range);
        dst_filter = shard_filter(conns.target.dialect(), plan.target, range);
    }
    bool use_checksum = options.checksum == ChecksumMode::on;
    std::string why;
    if (use_checksum && !checksum_supported(plan, &why)) {
        log::get("validate")->warn("{}: checksums are not exact here ({}); comparing rows instead", plan.name, why);
        use_checksum = false;
    }
    if (use_checksum && (key_order_unindexed(plan.source) || key_order_unindexed(plan.target)))
        // Asked for, so done -- but each chunk bound scans the table, since
        // no index gives the key's byte order; the row merge reads it once.
        log::get("validate")
            ->warn(
                "{}: no index gives the key's byte order here (a text key in a non-binary "
                "collation): every checksum chunk scans the table; without --checksum the "
                "rows are compared in one pass",
                plan.name);
    TableReport report = with_context(fmt::format("validating {}", plan.name), [&] {
        return use_checksum ? validate_by_checksum(conns, plan, options, src_filter, dst_filter, emit)
                            : validate_by_rows(conns, plan, options, src_filter, dst_filter, emit);
    });
    report.table = plan.name;
    report.seconds = Seconds(std::chrono::steady_clock::now() - started).count();
    return report;
}

}  // namespace webook
