// webookctl migrate copy
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "core/checkpoint.h"
#include "core/db.h"
#include "core/error.h"
#include "core/log.h"
#include "core/migration_mode.h"
#include "core/progress.h"
#include "migrate/copy.h"
#include "migrate/double_write.h"
#include "migrate/mode_control.h"

namespace webook::cli {
namespace {

struct CopyArgs {
    SideOptions sides;
    bool resume = false;
    bool truncate = false;
    bool keep_indexes = false;
    std::string shard;
    CopyOptions options;
};

int run_copy(Context& ctx, CopyArgs& a) {
    CopyOptions options = a.options;
    options.start = a.resume ? CopyStart::resume : (a.truncate ? CopyStart::truncate : CopyStart::fresh);
    if (!a.shard.empty()) options.shard = Shard::parse(a.shard);
    options.validate();
    const auto tables = selected_tables(ctx, a.sides.tables);
    Dsn src_dsn = side_dsn(ctx, a.sides.source, false);
    Dsn dst_dsn = side_dsn(ctx, a.sides.target, true);
    auto source = connect(src_dsn);
    auto target = connect(dst_dsn);
    auto control = connect(control_dsn(ctx, src_dsn));
    CheckpointStore checkpoints(*control);
    checkpoints.ensure_tables();
    // Past src_only the target takes double-writes, whose upserts need its
    // unique indexes: they are never dropped then.
    if (a.keep_indexes) options.indexes = IndexBuild::kept;
    if (options.indexes == IndexBuild::deferred && read_mode(*control) != Mode::src_only) {
        log::get("copy")->info("the migration is past src_only: the target's indexes stay in place");
        options.indexes = IndexBuild::kept;
    }

    // Plan every table first: a bad name fails before anything is written.
    std::vector<TablePlan> plans;
    for (const auto& t : tables)  // a copy carries every column both sides have
        plans.push_back(plan_table(*source, *target, t, IgnoredColumns::carried));
    nlohmann::ordered_json out = nlohmann::json::array();
    for (const auto& plan : plans) {
        ProgressCounter progress;
        options.progress = &progress;
        CopyReport r;
        {
            ProgressLine line("copying " + plan.name, progress);  // cleared before the result is printed
            r = copy_table({*source, *target}, plan, options, checkpoints, [dst_dsn] { return connect(dst_dsn); });
        }
        const double rate = r.seconds > 0 ? static_cast<double>(r.rows) / r.seconds : 0.0;
        if (ctx.json()) {
            out.push_back({{"table", r.table}, {"rows", r.rows}, {"rows_total", r.rows_total},
                           {"resumed_after", r.resumed_after}, {"seconds", r.seconds}, {"rows_per_second", rate}});
        } else {
            print_line(fmt::format("{:<22} {:>10} rows copied in {:.2f}s ({:.0f} rows/s){}", r.table, r.rows, r.seconds,
                                   rate, r.resumed_after.empty() ? "" : ", resumed after key " + r.resumed_after));
        }
    }
    if (ctx.json()) print_line(nlohmann::ordered_json{{"copied", out}}.dump());
    return k_exit_ok;
}

struct ModeArgs {
    std::string source;
    std::string mode;
    std::string lock_wait = "30s";
};

std::unique_ptr<Connection> open_control(const Context& ctx, const std::string& source_flag) {
    return connect(control_dsn(ctx, side_dsn(ctx, source_flag, false)));
}

struct ShardPlanArgs {
    std::string source;
    std::string table;
};

int run_shard_plan_reset(Context& ctx, ShardPlanArgs& a) {
    auto control = open_control(ctx, a.source);
    CheckpointStore checkpoints(*control);
    const std::size_t n = forget_shard_plans(checkpoints, a.table);
    if (ctx.json())
        print_line(nlohmann::ordered_json{{"table", a.table}, {"forgotten", n}}.dump());
    else
        print_line(n == 0 ? fmt::format("{}: no kept split", a.table)
                          : fmt::format("{}: forgot {} kept split{}; the next --shard run plans afresh", a.table, n,
                                        n == 1 ? "" : "s"));
    return k_exit_ok;
}

int run_mode_get(Context& ctx, ModeArgs& a) {
    auto control = open_control(ctx, a.source);
    ModeState s = get_mode(*control);
    if (ctx.json())
        print_line(nlohmann::ordered_json{{"mode", mode_name(s.mode)}, {"version", s.version}, {"since", s.since}}.dump());
    else
        print_line(std::string(mode_name(s.mode)));
    return k_exit_ok;
}

int run_mode_set(Context& ctx, ModeArgs& a) {
    const Mode to = parse_mode(a.mode);
    const auto wait = std::chrono::duration_cast<std::chrono::seconds>(parse_duration(a.lock_wait, "--lock-wait"));
    auto control = open_control(ctx, a.source);
    SetModeResult r = set_mode(*control, to, wait);
    if (ctx.json()) {
        print_line(nlohmann::ordered_json{{"from", mode_name(r.before.mode)}, {"to", mode_name(r.after.mode)},
                                          {"changed", r.changed}, {"version", r.after.version},
                                          {"waited_seconds", r.waited_seconds}}
                       .dump());
    } else if (r.changed) {
        print_line(fmt::format("{} -> {} (version {}; waited {:.3f}s for writers in flight)", mode_name(r.before.mode),
                               mode_name(r.after.mode), r.after.version, r.waited_seconds));
    } else {
        print_line(fmt::format("already {}", mode_name(r.after.mode)));
    }
    return k_exit_ok;
}

int run_status(Context& ctx, ModeArgs& a) {
    auto control = open_control(ctx, a.source);
    ModeState s = get_mode(*control);
    const std::uint64_t failures = second_side_failures(*control);
    auto checkpoints = CheckpointStore(*control).load_all();
    if (ctx.json()) {
        nlohmann::ordered_json j;
        j["mode"] = mode_name(s.mode);
        j["version"] = s.version;
        j["since"] = s.since;
        j["second_side_failures"] = failures;
        j["checkpoints"] = nlohmann::ordered_json::array();
        for (const auto& c : checkpoints) {
            nlohmann::ordered_json cj{{"table", c.table}, {"kind", c.kind}, {"shard", c.shard},
                                      {"position", c.position ? *c.position : ""}, {"rows", c.rows_done},
                                      {"updated_at", c.updated_at}};
            if (!c.result.empty()) cj["result"] = nlohmann::ordered_json::parse(c.result, nullptr, false);
            j["checkpoints"].push_back(cj);
        }
        print_line(j.dump());
        return k_exit_ok;
    }
    print_line(fmt::format("mode {} since {} (version {})", mode_name(s.mode), s.since.empty() ? "the start" : s.since,
                           s.version));
    print_line(fmt::format("second-side write failures: {}", failures));
    for (const auto& c : checkpoints)
        print_line(fmt::format("{:<22} {:<22} {:<5} position {:<24} rows {:<10} at {}{}", c.table, c.kind, c.shard,
                               c.position ? *c.position : "-", c.rows_done, c.updated_at,
                               c.result.empty() ? "" : "  " + c.result));
    return k_exit_ok;
}

}  // namespace

void register_migrate(CLI::App& app, Context& ctx) {
    CLI::App* migrate = app.add_subcommand("migrate", "copy tables, switch the migration mode, show status");
    migrate->require_subcommand(1);

    auto a = std::make_shared<CopyArgs>();
    CLI::App* copy = migrate->add_subcommand("copy", "copy tables from the source to the target, resumably");
    add_side_options(copy, a->sides);
    auto* resume = copy->add_flag("--resume", a->resume, "continue after the last checkpointed key");
    auto* truncate = copy->add_flag("--truncate", a->truncate, "empty the target table first");
    resume->excludes(truncate);
    copy->add_option("--batch-size", a->options.batch_size, "rows per batch and target transaction (default: 20000)");
    copy->add_option("--writers", a->options.writers, "target connections writing batches at once (default: 2)");
    copy->add_flag("--keep-indexes", a->keep_indexes,
                   "maintain the target's secondary indexes during the load instead of dropping them and "
                   "rebuilding them after it (default: rebuild after, in src_only and without --shard)");
    add_throttle_options(copy, a->options.throttle, a->shard);
    example(copy, "webookctl migrate copy --table interactives --source mysql://webook@db1:3306/webook "
                  "--target postgres://webook@db2:5432/webook --resume");
    copy->callback([&ctx, a] { ctx.run = [a](Context& c) { return run_copy(c, *a); }; });

    auto m = std::make_shared<ModeArgs>();
    CLI::App* mode = migrate->add_subcommand("mode", "read or switch the migration mode (src_only, src_first, "
                                                     "dst_first, dst_only)");
    mode->require_subcommand(1);
    CLI::App* get = mode->add_subcommand("get", "print the current mode");
    get->add_option("--source", m->source, "source DSN; the control table lives there unless [control] dsn is set");
    example(get, "webookctl migrate mode get --source mysql://webook@db1:3306/webook");
    get->callback([&ctx, m] { ctx.run = [m](Context& c) { return run_mode_get(c, *m); }; });
    CLI::App* set = mode->add_subcommand("set", "switch the mode one step forward or back; returns once no writer "
                                                "applies the old mode");
    set->add_option("MODE", m->mode, "src_only|src_first|dst_first|dst_only")->required();
    set->add_option("--source", m->source, "source DSN; the control table lives there unless [control] dsn is set");
    set->add_option("--lock-wait", m->lock_wait, "how long to wait for writers in flight (default: 30s)");
    example(set, "webookctl migrate mode set src_first --source mysql://webook@db1:3306/webook");
    set->callback([&ctx, m] { ctx.run = [m](Context& c) { return run_mode_set(c, *m); }; });

    auto sp = std::make_shared<ShardPlanArgs>();
    CLI::App* shard_plan = migrate->add_subcommand("shard-plan", "the kept --shard splits of a table");
    shard_plan->require_subcommand(1);
    CLI::App* reset = shard_plan->add_subcommand(
        "reset", "forget a table's kept splits, so the next --shard run plans afresh (refused while a sharded "
                 "copy of it is unfinished; stop sharded runs elsewhere first)");
    reset->add_option("--table", sp->table, "the table")->required();
    reset->add_option("--source", sp->source, "source DSN; the control table lives there unless [control] dsn is set");
    example(reset, "webookctl migrate shard-plan reset --table interactives");
    reset->callback([&ctx, sp] { ctx.run = [sp](Context& c) { return run_shard_plan_reset(c, *sp); }; });

    CLI::App* status = migrate->add_subcommand("status", "mode, checkpoints and second-side failures");
    status->add_option("--source", m->source, "source DSN; the control table lives there unless [control] dsn is set");
    example(status, "webookctl migrate status --output json");
    status->callback([&ctx, m] { ctx.run = [m](Context& c) { return run_status(c, *m); }; });
}

}  // namespace webook::cli
