// webookctl ops reconcile: rewards, payments and the ledger compared over a
// time window (platform/reconcile.h says what is compared and what --fix does).
//
// Registered on the `ops` group by register_ops() (cli/ops.cpp). Each
// mismatch is printed as soon as it is known (text, or one JSON object per
// line), then a summary; nothing is held for the end.
#include <cctype>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/platform.h"
#include "cli/render.h"
#include "core/base/error.h"
#include "core/base/metrics.h"
#include "core/base/progress.h"
#include "core/db/db.h"
#include "core/db/value.h"
#include "platform/reconcile.h"

namespace webook::cli {
namespace {

struct ReconcileArgs {
    PlatformTarget where;
    std::string from;  // required
    std::string to;    // default: now
    std::string metrics_file;
    bool fix = false;
    bool dry_run = false;
    ReconcileOptions options;
};

// --from/--to: a UTC time ('2026-11-01 00:00:00', '2026-11-01T00:00:00Z',
// '2026-11-01'), or a span back from now ('24h', '7d').
std::int64_t parse_edge(const std::string& text, std::string_view what, std::int64_t now) {
    try {
        return Value::parse(ValueKind::datetime, text).micros();
    } catch (const Error&) {
        // Not a time; maybe a span.
    }
    if (!text.empty() && std::isalpha(static_cast<unsigned char>(text.back()))) {
        try {
            return now - parse_duration(text, what).count();
        } catch (const Error&) {
            // Neither: said below.
        }
    }
    throw Error(Code::usage, fmt::format("{} '{}' is not a UTC time like '2026-11-01 00:00:00' nor "
                                         "a span back from now like 24h or 7d",
                                         what, text));
}

std::string_view fix_mode_name(const ReconcileOptions& o) {
    if (o.fix == FixMode::repair && o.dry_run == DryRun::yes) return "dry_run";
    switch (o.fix) {
    case FixMode::report: return "off";
    case FixMode::repair: return "on";
    }
    return "unknown";
}

nlohmann::ordered_json optional_id(std::int64_t id) {
    return id != 0 ? nlohmann::ordered_json(id) : nlohmann::ordered_json(nullptr);
}

void print_mismatch(const Context& ctx, const Mismatch& m) {
    std::string ids;
    if (m.reward_id != 0) ids += fmt::format(" reward {}", m.reward_id);
    if (!m.trade_no.empty()) ids += fmt::format(" payment {} ({})", m.payment_id, m.trade_no);
    if (!m.entry_ids.empty()) ids += fmt::format(" entries {}", fmt::join(m.entry_ids, ","));
    if (m.outbox_id != 0) ids += fmt::format(" outbox {}", m.outbox_id);
    render(ctx,
           nlohmann::ordered_json{
               {"category", category_name(m.category)},
               {"reward_id", optional_id(m.reward_id)},
               {"payment_id", optional_id(m.payment_id)},
               {"trade_no", m.trade_no.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(m.trade_no)},
               {"entry_ids", m.entry_ids},
               {"outbox_id", optional_id(m.outbox_id)},
               {"detail", m.detail},
               {"resolution", resolution_name(m.resolution)},
               {"action", m.action}},
           fmt::format("{}{}: {} -- {}: {}", category_name(m.category), ids, m.detail, resolution_name(m.resolution),
                       m.action));
}

nlohmann::ordered_json summary_json(const ReconcileOptions& o, const ReconcileReport& r) {
    nlohmann::ordered_json categories;
    for (Category c : all_categories()) categories[std::string(category_name(c))] = r.count(c);
    return {{"clean", r.mismatches == 0},
            {"mismatches", r.mismatches},
            {"from", json_time(o.from_micros)},
            {"to", json_time(o.to_micros)},
            {"reward_ids", {{"first", r.reward_ids.first}, {"last", r.reward_ids.end - 1}}},
            {"rewards", r.rewards},
            {"payments", r.payments},
            {"ledger_entries", r.entries},
            {"rechecked", r.rechecked},
            {"in_flight", r.in_flight},
            {"categories", categories},
            {"needs_human", r.needs_human},
            {"repairable", r.repairable},
            {"would_repair", r.would_repair},
            {"repaired", r.repaired},
            {"skipped", r.skipped},
            {"fix", fix_mode_name(o)},
            {"seconds", r.seconds}};
}

std::vector<std::string> summary_text(const ReconcileOptions& o, const ReconcileReport& r) {
    std::vector<std::string> lines{
        fmt::format("rewards made {} .. {} UTC (ids {} .. {}): {} rewards, {} payments, {} ledger entries "
                    "read in {:.2f}s; {} in flight",
                    text_time(o.from_micros), text_time(o.to_micros), r.reward_ids.first, r.reward_ids.end - 1,
                    r.rewards, r.payments, r.entries, r.seconds, r.in_flight)};
    if (r.mismatches == 0) {
        lines.push_back("clean: rewards, payments and ledger agree; no dead or long-pending outbox rows");
        return lines;
    }
    std::string by;
    for (Category c : all_categories())
        if (r.count(c) > 0) by += fmt::format("{}{} {}", by.empty() ? "" : ", ", category_name(c), r.count(c));
    std::string outcome = fmt::format("{} need a human", r.needs_human);
    if (r.repairable > 0) outcome += fmt::format(", {} repairable with --fix", r.repairable);
    if (r.would_repair > 0) outcome += fmt::format(", {} would be repaired (dry run: nothing written)", r.would_repair);
    if (r.repaired > 0)
        outcome +=
            fmt::format(", {} repaired (re-published events are settled by the relay and the consumer)", r.repaired);
    if (r.skipped > 0) outcome += fmt::format(", {} skipped (changed meanwhile)", r.skipped);
    lines.push_back(fmt::format("{} mismatches: {}; {}", r.mismatches, by, outcome));
    return lines;
}

void write_metrics(const std::string& path, const ReconcileReport& r) {
    MetricsFile m;
    const double now = static_cast<double>(system_micros()) / 1e6;
    for (Category c : all_categories())
        m.gauge("webookctl_reconcile_mismatches", "Mismatches found in the last run, by category",
                {{"category", std::string(category_name(c))}}, static_cast<double>(r.count(c)));
    m.gauge("webookctl_reconcile_needs_human", "Mismatches of the last run that need a human", {},
            static_cast<double>(r.needs_human));
    m.gauge("webookctl_reconcile_repaired", "Mismatches repaired by the last run (--fix)", {},
            static_cast<double>(r.repaired));
    m.gauge("webookctl_reconcile_rewards_checked", "Rewards read by the last run", {}, static_cast<double>(r.rewards));
    m.gauge("webookctl_reconcile_in_flight", "Rewards still on their way through relay and consumer in the last run",
            {}, static_cast<double>(r.in_flight));
    m.gauge("webookctl_reconcile_duration_seconds", "Duration of the last run", {}, r.seconds);
    m.gauge("webookctl_reconcile_last_success_timestamp_seconds", "When the last run finished", {}, now);
    m.write(path);
}

int run_reconcile(Context& ctx, ReconcileArgs& a) {
    // Everything the flags say is checked before any connection is made.
    ReconcileOptions options = a.options;
    const std::int64_t now = options.clock->wall_micros();
    options.to_micros = a.to.empty() ? now : parse_edge(a.to, "--to", now);
    options.from_micros = parse_edge(a.from, "--from", now);
    options.fix = a.fix ? FixMode::repair : FixMode::report;
    options.dry_run = a.dry_run ? DryRun::yes : DryRun::no;
    options.validate();
    if (!a.metrics_file.empty()) check_metrics_path(a.metrics_file);
    // During a migration: read the authoritative side, repair through the
    // double-write connection.
    auto db = ops_database(ctx, a.where);
    if (db->double_write) options.repair_connection = db->write;

    ProgressCounter progress;
    options.progress = &progress;
    ReconcileReport report;
    {
        ProgressLine line("reconciling rewards, payments, ledger", progress);
        report = reconcile(db->read, options, [&ctx](const Mismatch& m) { print_mismatch(ctx, m); });
    }
    render(ctx, summary_json(options, report), summary_text(options, report));
    if (!a.metrics_file.empty()) write_metrics(a.metrics_file, report);
    return report.mismatches == 0 ? k_exit_ok : k_exit_findings;
}

}  // namespace

void register_ops_reconcile(CLI::App* ops, Context& ctx) {
    auto a = std::make_shared<ReconcileArgs>();
    CLI::App* cmd =
        ops->add_subcommand("reconcile",
                            "compare rewards, payments and ledger entries of the rewards made in a time window, "
                            "and the outbox; report every mismatch by category with its ids; --fix repairs lost "
                            "payment events and missing bookings");
    add_ops_options(cmd, a->where);
    cmd->add_option("--from", a->from,
                    "the window's start, a UTC time ('2026-11-01 00:00:00', '2026-11-01') or a "
                    "span back from now (24h, 7d); rewards are picked by their snowflake id's time")
        ->required();
    cmd->add_option("--to", a->to, "the window's end, exclusive, in the same forms (default: now)");
    add_duration_option(cmd, "--grace", a->options.grace,
                        "a payment that became final less than this long ago is in flight, not lost");
    add_duration_option(cmd, "--pending-older-than", a->options.pending_older_than,
                        "report outbox rows pending longer than this");
    auto* fix = cmd->add_flag("--fix", a->fix,
                              "repair what is safely repairable: re-publish lost payment events "
                              "(the relay and the consumer settle them), book missing ledger "
                              "entries; the rest is reported as needing a human");
    cmd->add_flag("--dry-run", a->dry_run, "with --fix: print what it would repair; write nothing")->needs(fix);
    cmd->add_option("--split", a->options.split_percent,
                    "the author's percent of a booking --fix makes; the platform gets the rest "
                    "(default: 90, as ops payments consume)");
    cmd->add_option("--topic", a->options.topic,
                    "the outbox topic re-published events go to (default: payment_events)");
    cmd->add_option("--batch-size", a->options.batch_size, "rows per streamed batch of each table (default: 5000)");
    add_metrics_option(cmd, a->metrics_file, "at the end of the run");
    cmd->footer(
        "Exit status: 0 clean, 1 mismatches found (repaired or not), 2 usage, 3 connection or "
        "server error.\n"
        "Examples:\n"
        "  webookctl ops reconcile --dsn mysql://webook@db1:3306/webook --from 24h\n"
        "  webookctl --output json ops reconcile --from '2026-11-01' --to '2026-11-02' --fix "
        "--metrics-file /var/lib/node_exporter/webookctl_reconcile.prom");
    bind_action(cmd, ctx, a, run_reconcile);
}

}  // namespace webook::cli
