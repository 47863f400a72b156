// webookctl fix
#include <optional>
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/render.h"
#include "core/base/error.h"
#include "core/base/metrics.h"
#include "core/base/progress.h"
#include "core/db/db.h"
#include "core/messaging/event_input.h"
#include "core/messaging/kafka.h"
#include "core/migration/event_sink.h"
#include "fixers/fixer.h"

namespace webook::cli {
namespace {

struct FixArgs {
    SideOptions sides;
    std::string from;
    std::string group;
    std::string dead_letter;
    bool dry_run = false;
    bool until_idle = false;
    std::string metrics_file;
    FixOptions options;
    ConsumerOptions consumer;  // its session_timeout from --session-timeout
};

// fix --metrics-file: counts since the fixer started, its lag behind the
// topic (Kafka) and when it last looked at its input.
MetricsFile fix_metrics(const FixReport& r, const EventInput& input, const std::string& group, bool running) {
    MetricsFile m;
    const MetricsFile::Labels l{{"group", group}};
    for (auto [name, help, n] : {std::tuple{"events", "Events read", r.events},
                                 {"upserts", "Rows written to the non-base side", r.upserted},
                                 {"deletes", "Rows removed from the non-base side", r.deleted},
                                 {"duplicates", "Keys repeated within a batch", r.duplicates},
                                 {"dead_letters", "Events that could not be used", r.dead_letters},
                                 {"batches", "Batches committed", r.batches},
                                 {"retries", "Attempts started again after a temporary error", r.retries},
                                 {"rebased", "Keys whose event named the base before a switch", r.rebased}})
        m.counter(fmt::format("webookctl_fix_{}_total", name), help, l, static_cast<double>(n));
    if (const auto lag = input.lag())
        m.gauge("webookctl_fix_lag_events", "Events on the topic after this fixer's position (its partitions)", l,
                static_cast<double>(*lag));
    m.liveness("webookctl_fix", l, running);
    return m;
}

int run_fix(Context& ctx, FixArgs& a) {
    FixOptions options = a.options;
    options.dry_run = a.dry_run ? DryRun::yes : DryRun::no;
    options.until_idle = a.until_idle ? UntilIdle::yes : UntilIdle::no;
    options.validate();
    MetricsWriter metrics(a.metrics_file);  // checks the path before anything is done
    ConsumerOptions consumer = a.consumer;
    consumer.client_id = "webookctl-fix";
    consumer.heartbeat_interval = heartbeat_for(consumer.session_timeout);

    // Tables: --table / [[tables]] when given; otherwise any table both sides have.
    std::vector<TableConfig> tables;
    if (!a.sides.tables.empty() || !ctx.config.tables.empty()) tables = selected_tables(ctx, a.sides.tables);
    Dsn src_dsn = side_dsn(ctx, a.sides.source, false);
    Dsn dst_dsn = side_dsn(ctx, a.sides.target, true);
    std::unique_ptr<EventSink> dead_letter;
    if (!a.dead_letter.empty()) dead_letter = open_sink(a.dead_letter);
    // Both servers answer before the first event is taken.
    connect(src_dsn);
    connect(dst_dsn);
    auto input = open_input(a.from, a.group, consumer);

    Fixer fixer([src_dsn] { return connect(src_dsn); }, [dst_dsn] { return connect(dst_dsn); },
                control_factories(ctx, src_dsn, dst_dsn), tables, options, dead_letter.get());
    fixer.set_dry_run_printer(
        [&ctx](std::string_view action, const std::string& table, const Row& key, std::string_view side) {
            std::string k;
            for (const auto& v : key) k += (k.empty() ? "" : ",") + v.display();
            render(ctx, nlohmann::ordered_json{{"dry_run", action}, {"table", table}, {"key", k}, {"side", side}},
                   fmt::format("would {} {} key ({}) on the {}", action, table, k, side));
        });
    metrics.write(fix_metrics({}, *input, a.group, true));
    // On a terminal, with --until-idle: events so far of those on the topic
    // (the events handled plus the lag, once the first fetch told it).
    ProgressCounter progress;
    fixer.set_progress_observer([&](const FixReport& so_far) {
        progress.rows = so_far.events;
        if (const auto lag = input->lag()) progress.total = so_far.events + static_cast<std::uint64_t>(*lag);
        if (metrics.due()) metrics.write(fix_metrics(so_far, *input, a.group, true));
    });
    FixReport r;
    try {
        std::optional<ProgressLine> line;
        if (a.until_idle && !a.dry_run) line.emplace("fixing", progress, "events");
        r = fixer.run(*input);
    } catch (const Error&) {
        // Interrupted, or a failure: the file says the fixer is down (its
        // counts as of the last write).
        metrics.write_after_failure([&] { return fix_metrics(fixer.report(), *input, a.group, false); });
        throw;
    }
    if (dead_letter) dead_letter->flush();
    metrics.write(fix_metrics(r, *input, a.group, false));
    render(ctx,
           nlohmann::ordered_json{{"events", r.events},
                                  {"duplicates", r.duplicates},
                                  {"upserted", r.upserted},
                                  {"deleted", r.deleted},
                                  {"dead_letters", r.dead_letters},
                                  {"batches", r.batches},
                                  {"retries", r.retries},
                                  {"rebased", r.rebased},
                                  {"dry_run", a.dry_run}},
           fmt::format("{} events in {} batches: {} rows upserted, {} deleted, {} duplicates, {} dead letters, "
                       "{} retries, {} keys rebased{}",
                       r.events, r.batches, r.upserted, r.deleted, r.duplicates, r.dead_letters, r.retries, r.rebased,
                       a.dry_run ? " (dry run: nothing written)" : ""));
    return k_exit_ok;
}

}  // namespace

void register_fix(CLI::App& app, Context& ctx) {
    auto a = std::make_shared<FixArgs>();
    CLI::App* cmd = app.add_subcommand("fix", "repair inconsistencies from validation events (base side wins)");
    add_side_options(cmd, a->sides);
    cmd->add_option("--from", a->from, "events: kafka://host:port/topic (with --group) or file://path.jsonl")
        ->required();
    cmd->add_option("--group", a->group, "Kafka consumer group; fixers in one group share the partitions");
    cmd->add_option("--dead-letter", a->dead_letter,
                    "where unusable events go: kafka://host:port/topic, file://path.jsonl or - "
                    "(default: logged as errors)");
    cmd->add_flag("--dry-run", a->dry_run, "print what would be written; write nothing, commit no offsets");
    cmd->add_flag("--until-idle", a->until_idle, "exit once every event available has been handled");
    cmd->add_option("--batch-size", a->options.batch_size, "events per batch and transaction (default: 500)");
    add_duration_option(cmd, "--batch-wait", a->options.batch_wait, "longest wait for a batch to fill");
    add_duration_option(cmd, "--lock-wait", a->options.lock_wait,
                        "longest wait for a row lock before the fixer backs off and retries, so a user's "
                        "double-write is never held up longer");
    add_duration_option(cmd, "--session-timeout", a->consumer.session_timeout, "Kafka consumer session timeout");
    add_duration_option(cmd, "--retry-for", a->options.retry_for,
                        "how long a server may stay away (restart, failover) before the fixer gives up; 0 = no "
                        "retry beyond the per-batch attempts");
    add_metrics_option(cmd, a->metrics_file, "at most once a second while it runs, and when it ends");
    example(cmd,
            "webookctl fix --from kafka://kafka:9092/webook_inconsistencies --group webook-fixers "
            "--source mysql://webook@db1:3306/webook --target postgres://webook@db2:5432/webook");
    bind_action(cmd, ctx, a, run_fix);
}

}  // namespace webook::cli
