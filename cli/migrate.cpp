// webookctl migrate copy
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "core/checkpoint.h"
#include "core/db.h"
#include "core/error.h"
#include "core/progress.h"
#include "migrate/copy.h"

namespace webook::cli {
namespace {

struct CopyArgs {
    SideOptions sides;
    bool resume = false;
    bool truncate = false;
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

    // Plan every table first: a bad name fails before anything is written.
    std::vector<TablePlan> plans;
    for (auto t : tables) {
        t.ignore_columns.clear();  // a copy carries every column both sides have
        plans.push_back(plan_table(*source, *target, t));
    }
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

}  // namespace

void register_migrate(CLI::App& app, Context& ctx) {
    CLI::App* migrate = app.add_subcommand("migrate", "bulk-copy tables to the target");
    migrate->require_subcommand(1);

    auto a = std::make_shared<CopyArgs>();
    CLI::App* copy = migrate->add_subcommand("copy", "copy tables from the source to the target, resumably");
    add_side_options(copy, a->sides);
    auto* resume = copy->add_flag("--resume", a->resume, "continue after the last checkpointed key");
    auto* truncate = copy->add_flag("--truncate", a->truncate, "empty the target table first");
    resume->excludes(truncate);
    copy->add_option("--batch-size", a->options.batch_size, "rows per batch and target transaction (default: 20000)");
    copy->add_option("--writers", a->options.writers, "target connections writing batches at once (default: 2)");
    add_throttle_options(copy, a->options.throttle, a->shard);
    example(copy, "webookctl migrate copy --table interactives --source mysql://webook@db1:3306/webook "
                  "--target postgres://webook@db2:5432/webook --resume");
    copy->callback([&ctx, a] { ctx.run = [a](Context& c) { return run_copy(c, *a); }; });
}

}  // namespace webook::cli
