#include "validate/pass.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/base/progress.h"
#include "core/base/retry.h"
#include "core/migration/checkpoint.h"
#include "core/migration/checkpoint_records.h"
#include "core/migration/event_sink.h"
#include "validate/parents.h"

namespace webook {
namespace {

// Every table's incremental watermark as the pass found it, to put back
// when the pass is abandoned.
class Watermarks {
public:
    Watermarks(CheckpointStore& checkpoints, const std::vector<TablePlan>& plans, const std::string& shard)
        : m_checkpoints(checkpoints), m_shard(shard) {
        for (const auto& plan : plans)
            m_saved.emplace_back(plan.name, load_record<IncrementalWatermark>(checkpoints, plan.name, shard));
    }

    void restore() {
        for (const auto& [table, cp] : m_saved) {
            if (cp)
                save_record(m_checkpoints, *cp);
            else
                m_checkpoints.clear(IncrementalWatermark::k_kind, table, m_shard);
        }
    }

private:
    CheckpointStore& m_checkpoints;
    std::string m_shard;
    std::vector<std::pair<std::string, std::optional<IncrementalWatermark>>> m_saved;
};

}  // namespace

PassReport run_pass(SideConnections conns, ControlRows& control, const std::vector<TablePlan>& plans,
                    const PassOptions& options, EventSink& sink, CheckpointStore& checkpoints) {
    const auto* logger = log::get("validate");
    const bool incremental = options.validator == Validator::incremental;
    const PassKind kind = incremental ? PassKind::incremental : PassKind::full;
    // The control database's own reads and writes between tables ride out an
    // outage too (it is often the source server).
    RetryBudget budget(options.validate.retry_for, Clock::real(), "reading the control table");
    auto on_control = [&](auto&& op) {
        return run_resumable(budget, op,
                             [&] { return control.reset_sessions() && reset_sessions({&checkpoints.connection()}); });
    };
    on_control([&] { checkpoints.ensure_tables(); });  // the pass records go there too
    for (int attempt = 0;; ++attempt) {
        const ModeState mode = on_control([&] { return read_mode_state(control); });
        ValidateOptions vo = options.validate;
        vo.base = options.base.value_or(base_side_of(mode.mode));
        if (attempt == 0 && !options.base)
            logger->info("migration mode {}: base is {}", mode_name(mode.mode), base_side_name(vo.base));
        std::optional<Watermarks> watermarks;
        if (incremental) on_control([&] { watermarks.emplace(checkpoints, plans, vo.shard.str()); });

        PassReport report;
        report.mode = mode.mode;
        report.base = vo.base;
        report.redone = attempt;
        std::vector<PassRecord> records;
        for (const auto& plan : plans) {
            ProgressCounter progress;
            vo.progress = &progress;
            if (!incremental) {  // both sides' rows (both readers count); an incremental pass reads what changed
                const auto src = conns.source.estimated_rows(plan.source.table);
                const auto dst = conns.target.estimated_rows(plan.target.table);
                if (src && dst) progress.total = *src + *dst;
            }
            ProgressLine line("validating " + plan.name, progress);
            PassRecord rec;
            rec.table = plan.name;
            rec.kind = kind;
            rec.shard = vo.shard.str();
            rec.base = vo.base;
            rec.mode = std::string(mode_name(mode.mode));
            rec.mode_version = mode.version;
            rec.continued = !vo.since.has_value();
            rec.started_us = on_control([&] { return mode_clock_us(control); });
            report.tables.push_back(incremental ? validate_incremental(conns, plan, vo, sink, checkpoints)
                                                : validate_full(conns, plan, vo, sink, &checkpoints));
            rec.ended_us = on_control([&] { return mode_clock_us(control); });
            // What the fixers repaired in the table since the previous pass.
            rec.fixed_total = on_control([&] { return checkpoints.fixed(plan.name); });
            const auto before = on_control(
                [&] { return load_record<PassRecord>(checkpoints, plan.name, rec.shard, pass_checkpoint_kind(kind)); });
            rec.fixed = rec.fixed_total - (before ? before->fixed_total : 0);
            report.tables.back().column_findings = column_findings(plan);
            if (!incremental && vo.shard.whole())
                report.tables.back().parent_findings = parent_findings(conns, plan, plans, vo.base);
            rec.found = report.tables.back().findings();
            report.differences += rec.found;
            records.push_back(std::move(rec));
        }
        sink.flush();  // a failed delivery is an error, never silent

        // A switch that moved the base while the pass ran: redo it.
        const ModeState after = on_control([&] { return read_mode_state(control); });
        if (!options.base && base_side_of(after.mode) != vo.base) {
            if (watermarks) on_control([&] { watermarks->restore(); });
            if (!incremental)
                on_control([&] {
                    for (const auto& plan : plans) forget_full_progress(checkpoints, plan.name, vo.shard);
                });
            if (attempt + 1 >= options.max_redos)
                throw Error(
                    Code::server,
                    fmt::format("the migration mode kept switching during validation ({} passes redone)", attempt + 1),
                    Temporary::yes);
            logger->warn(
                "the mode switched from {} to {} during the pass: the base is now {}; validating "
                "again",
                mode_name(mode.mode), mode_name(after.mode), base_side_name(base_side_of(after.mode)));
            continue;
        }
        on_control([&] {
            for (const auto& rec : records) save_record(checkpoints, rec);
            // The pass is complete: a --resume now starts a new one.
            if (!incremental)
                for (const auto& plan : plans) forget_full_progress(checkpoints, plan.name, vo.shard);
        });
        report.control_retries = budget.report().retries;
        return report;
    }
}

std::uint64_t run_passes(SideConnections conns, ControlRows& control, const std::vector<TablePlan>& plans,
                         const PassOptions& options, EventSink& sink, CheckpointStore& checkpoints, Follow follow,
                         std::chrono::microseconds interval, const std::function<void(const PassReport&)>& on_pass,
                         Clock& clock) {
    std::uint64_t differences = 0;
    while (true) {
        PassReport report = run_pass(conns, control, plans, options, sink, checkpoints);
        differences += report.differences;
        on_pass(report);
        if (follow == Follow::no) return differences;
        clock.sleep_for(interval);
        check_interrupted();
    }
}

}  // namespace webook
