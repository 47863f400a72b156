// webookctl validate --full|--incremental
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/render.h"
#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/base/metrics.h"
#include "core/base/progress.h"
#include "core/db/db.h"
#include "core/migration/checkpoint.h"
#include "core/migration/event_sink.h"
#include "core/migration/migration_mode.h"
#include "validate/pass.h"

namespace webook::cli {
namespace {

struct ValidateArgs {
    SideOptions sides;
    bool full = false;
    bool incremental = false;
    std::string base;  // src|dst; default: from the migration mode
    bool checksum = false;
    std::string method = "auto";  // --method
    bool method_given = false;
    std::string sink = "-";
    std::string metrics_file;
    std::string since;
    bool follow = false;
    bool resume = false;
    std::chrono::microseconds interval = k_follow_interval;
    std::string shard;
    ValidateOptions options;
};

nlohmann::ordered_json table_json(const TableReport& r) {
    const auto& c = r.counts;
    nlohmann::ordered_json j;
    j["table"] = r.table;
    j["method"] = method_name(r.method);
    if (!r.method_choice.empty()) j["method_choice"] = r.method_choice;
    j["base_rows"] = c.base_rows;
    j["other_rows"] = c.other_rows;
    j["target_missing"] = c.target_missing;
    j["neq"] = c.neq;
    j["base_missing"] = c.base_missing;
    j["seconds"] = r.seconds;
    j["rows_per_second"] = rows_per_second(c.base_rows + c.other_rows - r.resumed_rows, r.seconds);
    j["retries"] = r.retries;
    j["longest_outage_seconds"] = r.longest_outage_seconds;
    j["resumed_after"] = r.resumed_after.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(r.resumed_after);
    if (r.method == Method::checksum) {
        j["chunks"] = r.chunks;
        j["chunks_differing"] = r.chunks_differing;
    }
    j["column_findings"] = r.column_findings;
    j["parent_findings"] = r.parent_findings;
    j["neq_columns"] = r.neq_columns;
    if (r.method == Method::incremental) {
        j["watermark"] = r.watermark;
        j["held_back"] = r.held_back;
        j["rechecked_away"] = r.rechecked_away;
    }
    return j;
}

std::string table_text(const TableReport& r) {
    const auto& c = r.counts;
    std::string s = fmt::format(
        "{:<22} {:>10} base rows {:>10} other rows  target_missing {:<6} neq {:<6} "
        "base_missing {:<6} {:.2f}s ({:.0f} rows/s)",
        r.table, c.base_rows, c.other_rows, c.target_missing, c.neq, c.base_missing, r.seconds,
        rows_per_second(c.base_rows + c.other_rows - r.resumed_rows, r.seconds));
    if (r.method == Method::checksum) s += fmt::format("  [{} chunks, {} differing]", r.chunks, r.chunks_differing);
    if (!r.method_choice.empty()) s += fmt::format("  [auto: {}]", r.method_choice);
    if (r.method == Method::incremental)
        s += fmt::format("  [watermark {}{}]", r.watermark, r.held_back ? ", held before a difference" : "");
    if (!r.resumed_after.empty()) s += fmt::format("  [resumed after key {}]", r.resumed_after);
    for (const auto& f : r.column_findings) s += fmt::format("  [{}]", f);
    for (const auto& f : r.parent_findings) s += fmt::format("  [{}]", f);
    if (!r.neq_columns.empty()) {
        // The columns that differ most, first (at most five).
        std::vector<std::pair<std::string, std::uint64_t>> most(r.neq_columns.begin(), r.neq_columns.end());
        std::stable_sort(most.begin(), most.end(), [](const auto& x, const auto& y) { return x.second > y.second; });
        std::string shown;
        for (std::size_t i = 0; i < most.size() && i < 5; ++i)
            shown += fmt::format("{}{} {}", i ? ", " : "", most[i].first, most[i].second);
        if (most.size() > 5) shown += fmt::format(", {} more", most.size() - 5);
        s += fmt::format("  [neq in {}]", shown);
    }
    if (r.retries > 0)
        s += fmt::format("  [{} retr{}, longest outage {:.1f}s]", r.retries, r.retries == 1 ? "y" : "ies",
                         r.longest_outage_seconds);
    return s;
}

void write_metrics(const std::string& path, const std::vector<TableReport>& reports, const std::string& kind) {
    MetricsFile m;
    const double now = static_cast<double>(system_micros()) / 1e6;
    for (const auto& r : reports) {
        std::map<std::string, std::string> l{{"table", r.table}, {"validator", kind}};
        m.gauge("webookctl_validate_rows_compared", "Rows read from the base side in the last run", l,
                static_cast<double>(r.counts.base_rows));
        for (auto [type, n] : {std::pair{"target_missing", r.counts.target_missing},
                               {"neq", r.counts.neq},
                               {"base_missing", r.counts.base_missing},
                               {"column", static_cast<std::uint64_t>(r.column_findings.size())},
                               {"parent", static_cast<std::uint64_t>(r.parent_findings.size())}}) {
            auto lt = l;
            lt["type"] = type;
            m.gauge("webookctl_validate_inconsistencies", "Inconsistencies found in the last run, by type", lt,
                    static_cast<double>(n));
        }
        m.gauge("webookctl_validate_duration_seconds", "Duration of the last run", l, r.seconds);
        m.gauge("webookctl_validate_retries", "Attempts started again in the last run after a server went away", l,
                static_cast<double>(r.retries));
        m.gauge("webookctl_validate_last_success_timestamp_seconds", "When the last run finished", l, now);
    }
    m.write(path);
}

// --method auto|rows|checksum; --checksum is --method checksum (the two
// exclude each other on the command line; --method is no config setting, so
// given, it wins over a config file's checksum = true).
ChecksumMode checksum_mode(const ValidateArgs& a) {
    if (a.method_given || !a.checksum) {
        if (a.method == "rows") return ChecksumMode::off;
        if (a.method == "checksum") return ChecksumMode::on;
        return ChecksumMode::automatic;
    }
    return ChecksumMode::on;
}

int run_validate(Context& ctx, ValidateArgs& a) {
    if (!a.full && !a.incremental) throw Error(Code::usage, "validate: choose --full or --incremental");
    ValidateOptions options = a.options;
    options.checksum = checksum_mode(a);
    options.resume = a.resume ? Resume::yes : Resume::no;
    if (!a.shard.empty()) options.shard = Shard::parse(a.shard);
    if (!a.since.empty()) options.since = a.since;
    options.validate();
    if (!a.metrics_file.empty()) check_metrics_path(a.metrics_file);
    const auto tables = selected_tables(ctx, a.sides.tables);

    // The sink is checked before any database is touched.
    auto sink = open_sink(a.sink);
    Dsn src_dsn = side_dsn(ctx, a.sides.source, false);
    Dsn dst_dsn = side_dsn(ctx, a.sides.target, true);
    // Sessions that can start over: a server that goes away mid-run is
    // waited for (--retry-for); one that is not there now is an error.
    auto source = connect_resumable(src_dsn);
    auto target = connect_resumable(dst_dsn);
    auto control = connect_resumable(control_dsn(ctx, src_dsn));
    // The target's control table, where the mode row moves from dst_first on.
    std::unique_ptr<Connection> target_control;
    if (control_moves(ctx)) target_control = connect_resumable(dst_dsn);
    ControlRows control_rows = ControlRows::borrowed(*control, target_control.get());
    CheckpointStore checkpoints(*control);

    std::vector<TablePlan> plans;
    for (const auto& t : tables) plans.push_back(plan_table(*source, *target, t));

    PassOptions pass;
    pass.validator = a.incremental ? Validator::incremental : Validator::full;
    if (!a.base.empty()) pass.base = a.base == "dst" ? BaseSide::dst : BaseSide::src;
    pass.validate = options;
    const std::string kind = a.incremental ? "incremental" : "full";
    // Each pass is shown as it ends (with --follow, many).
    auto show_pass = [&](const PassReport& p) {
        nlohmann::ordered_json j;
        j["validator"] = kind;
        j["base"] = base_side_name(p.base);
        j["mode"] = mode_name(p.mode);
        j["consistent"] = p.differences == 0;
        j["inconsistencies"] = p.differences;
        j["sink"] = sink->describe();
        j["passes_redone"] = p.redone;
        j["tables"] = nlohmann::ordered_json::array();
        std::vector<std::string> lines;
        for (const auto& r : p.tables) {
            j["tables"].push_back(table_json(r));
            lines.push_back(table_text(r));
        }
        lines.push_back(p.differences == 0 ? fmt::format("consistent (base {})", base_side_name(p.base))
                                           : fmt::format("{} inconsistencies (base {}), events to {}", p.differences,
                                                         base_side_name(p.base), sink->describe()));
        render(ctx, j, lines);
        if (!a.metrics_file.empty()) write_metrics(a.metrics_file, p.tables, kind);
    };
    const std::uint64_t total_differences =
        run_passes({*source, *target}, control_rows, plans, pass, *sink, checkpoints,
                   a.follow ? Follow::yes : Follow::no, a.interval, show_pass);
    return total_differences == 0 ? k_exit_ok : k_exit_findings;
}

}  // namespace

void register_validate(CLI::App& app, Context& ctx) {
    auto a = std::make_shared<ValidateArgs>();
    CLI::App* cmd =
        app.add_subcommand("validate", "compare source and target tables; report inconsistencies as events");
    add_side_options(cmd, a->sides);
    auto* full = cmd->add_flag("--full", a->full, "compare every row (one merge pass in key order)");
    auto* inc =
        cmd->add_flag("--incremental", a->incremental, "compare rows changed since the table's checkpointed watermark");
    full->excludes(inc);
    cmd->add_option("--base", a->base, "authoritative side (default: follows the migration mode)")
        ->check(CLI::IsMember({"src", "dst"}));
    auto* checksum =
        cmd->add_flag("--checksum", a->checksum,
                      "full: compare per-chunk checksums computed in each database; rows only where they differ");
    checksum->excludes(inc);
    cmd->add_option("--method", a->method,
                    "full: rows (merge every row), checksum (per-chunk checksums, rows only where they differ) or "
                    "auto (compare the first rows both ways, then take the faster; default)")
        ->check(CLI::IsMember({"auto", "rows", "checksum"}))
        ->excludes(inc)
        ->excludes(checksum)
        ->each([a](const std::string&) { a->method_given = true; });
    cmd->add_option("--sink", a->sink, "where events go: kafka://host:port/topic, file://path.jsonl or - (default: -)");
    cmd->add_flag("--event-values", a->options.event_values,
                  "neq events carry both sides' values of the columns that differ (default: only the column names)");
    add_metrics_option(cmd, a->metrics_file, "after every pass");
    cmd->add_option("--batch-size", a->options.batch_size, "rows per keyset batch (default: 10000)");
    cmd->add_option("--chunk-rows", a->options.chunk_rows, "rows per checksum chunk (default: 20000)");
    cmd->add_option("--since", a->since, "incremental: start at this update time instead of the checkpoint")
        ->needs(inc);
    add_duration_option(cmd, "--overlap", a->options.overlap, "incremental: re-read this far behind the watermark")
        ->needs(inc);
    add_duration_option(cmd, "--recheck-after", a->options.recheck_after,
                        "incremental: re-check differences after this delay before reporting")
        ->needs(inc);
    cmd->add_flag("--resume", a->resume,
                  "full: go on from where an interrupted run stopped (its tables' checkpoints), not from the start")
        ->needs(full);
    add_duration_option(cmd, "--retry-for", a->options.retry_for,
                        "how long a server may stay away (restart, failover, lost connection) before the run gives "
                        "up; 0 = no retry");
    auto* follow = cmd->add_flag("--follow", a->follow, "incremental: keep polling until signalled")->needs(inc);
    add_duration_option(cmd, "--interval", a->interval, "with --follow: time between passes")->needs(follow);
    add_throttle_options(cmd, a->options.throttle, a->shard);
    cmd->footer(
        "Exit status: 0 consistent, 1 inconsistencies found, 2 usage, 3 connection/server error.\n"
        "Examples:\n"
        "  webookctl validate --full --table interactives --source mysql://webook@db1:3306/webook "
        "\\\n"
        "      --target postgres://webook@db2:5432/webook --sink "
        "kafka://kafka:9092/webook_inconsistencies\n"
        "  webookctl --config migrate.toml validate --incremental --recheck-after 2s "
        "--metrics-file "
        "/var/lib/node_exporter/webookctl.prom");
    bind_action(cmd, ctx, a, run_validate);
}

}  // namespace webook::cli
