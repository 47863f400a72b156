// webookctl simulate
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/platform.h"
#include "cli/render.h"
#include "core/base/error.h"
#include "migrate/simulate.h"

namespace webook::cli {
namespace {

struct SimulateArgs {
    PlatformTarget target;
    SimulateOptions options;
};

int run_simulate(Context& ctx, SimulateArgs& a) {
    SimulateOptions options = a.options;
    options.validate();
    DoubleWriteCounters counters;
    ConnectionFactory factory = platform_factory(ctx, a.target, counters);
    SimulateReport r = simulate(factory, options, &counters);
    nlohmann::ordered_json j;
    j["operations"] = r.operations;
    j["failed"] = r.failed;
    j["second_side_failures"] = r.second_side_failures;
    j["seconds"] = r.seconds;
    j["ops_per_second"] = r.ops_per_second;
    j["latency_ms"] = {{"mean", r.mean_ms}, {"p50", r.p50_ms}, {"p95", r.p95_ms}, {"p99", r.p99_ms}};
    std::vector<std::string> lines{
        fmt::format("{} operations in {:.1f}s ({:.0f} ops/s), {} failed user operations, {} second-side failures",
                    r.operations, r.seconds, r.ops_per_second, r.failed, r.second_side_failures),
        fmt::format("latency ms: mean {:.2f}, p50 {:.2f}, p95 {:.2f}, p99 {:.2f}", r.mean_ms, r.p50_ms, r.p95_ms,
                    r.p99_ms)};
    nlohmann::ordered_json ops = nlohmann::ordered_json::object();
    for (const auto& [name, s] : r.by_operation) {
        ops[name] = {{"count", s.count}, {"failed", s.failed}};
        lines.push_back(fmt::format("  {:<10} {:>9} ({} failed)", name, s.count, s.failed));
    }
    j["by_operation"] = ops;
    if (!r.first_failure.empty()) {
        j["first_failure"] = r.first_failure;
        lines.push_back("first failure: " + r.first_failure);
    }
    render(ctx, j, lines);
    return r.failed == 0 ? k_exit_ok : k_exit_findings;
}

}  // namespace

void register_simulate(CLI::App& app, Context& ctx) {
    auto a = std::make_shared<SimulateArgs>();
    CLI::App* cmd = app.add_subcommand("simulate",
                                       "run realistic mixed platform traffic (the drill's load; a "
                                       "benchmark of double-writing)");
    add_platform_options(cmd, a->target);
    cmd->add_option("--writers", a->options.writers, "concurrent writers, each with its own connection (default: 8)");
    add_duration_option(cmd, "--duration", a->options.duration, "how long to run; SIGINT/SIGTERM stop it early");
    cmd->add_option("--seed", a->options.seed, "random seed: the same seed repeats the operation mix (default: 1)");
    cmd->add_option("--users", a->options.users, "readers' uids are 1..N (default: 1000)");
    cmd->footer(
        "Exit status: 0 when every user operation succeeded, 1 when some failed.\n"
        "Example:\n  webookctl simulate --writers 8 --duration 60s --source mysql://webook@db1:3306/webook "
        "--target postgres://webook@db2:5432/webook");
    bind_action(cmd, ctx, a, run_simulate);
}

}  // namespace webook::cli
