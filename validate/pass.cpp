#include "validate/pass.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/base/progress.h"
#include "core/migration/checkpoint.h"
#include "core/migration/event_sink.h"

namespace webook {
namespace {

// Every table's incremental watermark as the pass found it, to put back
// when the pass is abandoned.
class Watermarks {
public:
    Watermarks(CheckpointStore& checkpoints, const std::vector<TablePlan>& plans, const std::string& shard)
        : m_checkpoints(checkpoints), m_shard(shard) {
        for (const auto& plan : plans)
            m_saved.emplace_back(plan.name, checkpoints.load(CheckpointKind::validate_incremental, plan.name, shard));
    }

    void restore() {
        for (const auto& [table, cp] : m_saved) {
            if (cp)
                m_checkpoints.save(*cp);
            else
                m_checkpoints.clear(CheckpointKind::validate_incremental, table, m_shard);
        }
    }

private:
    CheckpointStore& m_checkpoints;
    std::string m_shard;
    std::vector<std::pair<std::string, std::optional<Checkpoint>>> m_saved;
};

}  // namespace

PassReport run_pass(SideConnections conns, Connection& control, const std::vector<TablePlan>& plans,
                    const PassOptions& options, EventSink& sink, CheckpointStore& checkpoints) {
    const auto* logger = log::get("validate");
    const bool incremental = options.validator == Validator::incremental;
    const PassKind kind = incremental ? PassKind::incremental : PassKind::full;
    checkpoints.ensure_tables();  // the pass records go there too
    for (int attempt = 0;; ++attempt) {
        const ModeState mode = read_mode_state(control);
        ValidateOptions vo = options.validate;
        vo.base = options.base.value_or(base_side_of(mode.mode));
        if (attempt == 0 && !options.base)
            logger->info("migration mode {}: base is {}", mode_name(mode.mode), base_side_name(vo.base));
        std::optional<Watermarks> watermarks;
        if (incremental) watermarks.emplace(checkpoints, plans, vo.shard.str());

        PassReport report;
        report.mode = mode.mode;
        report.base = vo.base;
        report.redone = attempt;
        std::vector<PassRecord> records;
        for (const auto& plan : plans) {
            ProgressCounter progress;
            vo.progress = &progress;
            ProgressLine line("validating " + plan.name, progress);
            PassRecord rec;
            rec.table = plan.name;
            rec.kind = kind;
            rec.shard = vo.shard.str();
            rec.base = vo.base;
            rec.mode = std::string(mode_name(mode.mode));
            rec.mode_version = mode.version;
            rec.continued = !vo.since.has_value();
            rec.started_us = control_clock_us(control);
            report.tables.push_back(incremental ? validate_incremental(conns, plan, vo, sink, checkpoints)
                                                : validate_full(conns, plan, vo, sink, &checkpoints));
            rec.ended_us = control_clock_us(control);
            // What the fixers repaired in the table since the previous pass.
            rec.fixed_total = checkpoints.fixed(plan.name);
            const auto previous = checkpoints.load(
                kind == PassKind::incremental ? CheckpointKind::pass_incremental : CheckpointKind::pass_full, plan.name,
                rec.shard);
            const auto before = previous ? passes_of({*previous}) : std::vector<PassRecord>{};
            rec.fixed = rec.fixed_total - (before.empty() ? 0 : before[0].fixed_total);
            rec.found = report.tables.back().counts.differences();
            report.differences += rec.found;
            records.push_back(std::move(rec));
        }
        sink.flush();  // a failed delivery is an error, never silent

        // A switch that moved the base while the pass ran: redo it.
        const ModeState after = read_mode_state(control);
        if (!options.base && base_side_of(after.mode) != vo.base) {
            if (watermarks) watermarks->restore();
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
        for (const auto& rec : records) save_pass(checkpoints, rec);
        return report;
    }
}

std::uint64_t run_passes(SideConnections conns, Connection& control, const std::vector<TablePlan>& plans,
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
