#include "migrate/copy.h"

#include <chrono>

#include <fmt/format.h>

#include "core/checkpoint.h"
#include "core/db.h"
#include "core/dialect.h"
#include "core/error.h"
#include "core/interrupt.h"
#include "core/keyset.h"
#include "core/log.h"
#include "core/prefetch.h"

namespace webook {
namespace {

constexpr const char* k_checkpoint_kind = "copy";

// Source batches through the throttle, on the prefetching thread.
class ThrottledSource final : public BatchSource {
public:
    ThrottledSource(Connection& conn, const SidePlan& side, KeyBounds bounds, const CopyOptions& options,
                    const ShardFilter& filter)
        : m_conn(conn),
          m_reader(conn, side, std::move(bounds), options.batch_size, filter.sql, filter.params),
          m_throttle(options.throttle) {}

    bool next(std::vector<Row>& out) override {
        m_throttle.before_batch(m_conn);
        bool more = m_reader.next(out);
        m_throttle.after_rows(out.size());
        return more;
    }

private:
    Connection& m_conn;
    KeysetReader m_reader;
    Throttle m_throttle;
};

// "WHERE <filter> AND <after bound>" for the target side, for emptiness
// checks and clean-ups within this shard.
std::string target_where(const Dialect& d, const SidePlan& side, const ShardFilter& filter, const KeyBounds& bounds,
                         std::vector<Value>& params) {
    params = filter.params;
    std::string where = filter.sql;
    std::string range = bounds_condition(d, side, bounds, params);
    if (!where.empty() && !range.empty()) where = "(" + where + ") AND ";
    where += range;
    return where.empty() ? "" : " WHERE " + where;
}

}  // namespace

void CopyOptions::validate() const {
    if (batch_size == 0) throw Error(Code::usage, "--batch-size must be positive");
    throttle.validate();
}

CopyReport copy_table(SideConnections conns, const TablePlan& plan, const CopyOptions& options,
                      CheckpointStore& checkpoints) {
    options.validate();
    const auto started = std::chrono::steady_clock::now();
    const auto* logger = log::get("copy");
    Connection& target = conns.target;
    const Dialect& d = target.dialect();
    const std::string shard = options.shard.str();
    CopyReport report;
    report.table = plan.name;

    ShardFilter src_filter, dst_filter;
    if (!options.shard.whole()) {
        ShardRange range = shard_range(conns, plan, options.shard);
        src_filter = shard_filter(conns.source.dialect(), plan.source, range);
        dst_filter = shard_filter(d, plan.target, range);
    }

    // Where to start, and what to clear on the target first.
    KeyBounds bounds;
    std::int64_t done_before = 0;
    if (options.start == CopyStart::resume) {
        if (auto cp = checkpoints.load(k_checkpoint_kind, plan.name, shard); cp && cp->position) {
            bounds.after = decode_key(*cp->position, plan.source.kinds);
            done_before = cp->rows_done;
            report.resumed_after = encode_key(*bounds.after);
        }
    }
    {
        std::vector<Value> params;
        std::string where = target_where(d, plan.target, dst_filter, bounds, params);
        if (options.start == CopyStart::fresh) {
            if (target.query_one(fmt::format("SELECT 1 FROM {}{} LIMIT 1", d.quote(plan.target.table), where), params))
                throw Error(Code::usage,
                            fmt::format("target table {} in {} is not empty{}: pass --resume to continue a copy or "
                                        "--truncate to start over",
                                        plan.target.table, target.describe(),
                                        options.shard.whole() ? "" : " in shard " + shard));
        } else if (options.start == CopyStart::truncate && options.shard.whole()) {
            target.execute(d.truncate(plan.target.table));
        } else {
            // Rows past the checkpoint came from a batch whose checkpoint was
            // never saved (or, with --truncate and a shard, this shard's rows).
            auto r = target.execute(fmt::format("DELETE FROM {}{}", d.quote(plan.target.table), where), params);
            if (r.affected_rows > 0)
                logger->info("{}: removed {} target rows past the checkpoint", plan.name, r.affected_rows);
        }
        if (options.start != CopyStart::resume) checkpoints.clear(k_checkpoint_kind, plan.name, shard);
    }
    if (bounds.after) logger->info("{}: resuming after key {}", plan.name, report.resumed_after);

    ThrottledSource reader(conns.source, plan.source, bounds, options, src_filter);
    Prefetcher ahead(reader);
    std::vector<Row> batch;
    std::uint64_t rows = 0;
    std::optional<std::string> last_key = bounds.after ? std::optional(report.resumed_after) : std::nullopt;
    with_context(fmt::format("copying {} to {}", plan.name, target.describe()), [&] {
        while (ahead.next(batch)) {
            {
                Transaction tx(target);
                auto writer = target.bulk_insert(plan.target.table, plan.target.columns);
                for (const Row& r : batch) writer->write(r);
                writer->finish();
                tx.commit();
            }
            rows += batch.size();
            last_key = encode_key(key_of(batch.back(), plan.key_size()));
            checkpoints.save({k_checkpoint_kind, plan.name, shard, last_key,
                              done_before + static_cast<std::int64_t>(rows), "", {}});
            logger->debug("{}: {} rows copied", plan.name, rows);
            check_interrupted();
        }
        // Rows arrived with explicit ids: move the target's id generator past them.
        if (plan.target.kinds[0] == ValueKind::integer)
            for (const auto& sql : d.sync_identity(plan.target.table, plan.target.key[0])) target.execute(sql);
    });
    report.rows = rows;
    report.rows_total = static_cast<std::uint64_t>(done_before) + rows;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    checkpoints.save({k_checkpoint_kind, plan.name, shard, last_key, static_cast<std::int64_t>(report.rows_total),
                      fmt::format(R"({{"state":"done","rows":{},"seconds":{:.3f}}})", report.rows_total,
                                  report.seconds),
                      {}});
    return report;
}

}  // namespace webook
