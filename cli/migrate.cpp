// webookctl migrate copy
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/render.h"
#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/base/metrics.h"
#include "core/base/progress.h"
#include "core/db/catalog.h"
#include "core/db/db.h"
#include "core/messaging/kafka.h"
#include "core/migration/checkpoint.h"
#include "core/migration/checkpoint_records.h"
#include "core/migration/migration_mode.h"
#include "migrate/copy.h"
#include "migrate/double_write.h"
#include "migrate/gates.h"
#include "migrate/mode_control.h"
#include "migrate/schema.h"

namespace webook::cli {
namespace {

struct CopyArgs {
    SideOptions sides;
    bool resume = false;
    bool truncate = false;
    bool keep_indexes = false;
    bool dry_run = false;
    std::string shard;
    std::string metrics_file;
    CopyOptions options;
};

// The table being copied, for the metrics written while it is.
struct CopyInFlight {
    std::string table;
    const ProgressCounter* progress = nullptr;
    std::chrono::steady_clock::time_point started;
};

// migrate copy --metrics-file: per table of the run, its rows so far, rate,
// duration and whether it is done; tables done of all.
MetricsFile copy_metrics(const std::vector<TablePlan>& plans, const std::vector<CopyReport>& done,
                         const CopyInFlight& now) {
    MetricsFile m;
    m.gauge("webookctl_copy_tables", "Tables this run copies", {}, static_cast<double>(plans.size()));
    m.gauge("webookctl_copy_tables_done", "Tables this run has copied", {}, static_cast<double>(done.size()));
    for (const auto& plan : plans) {
        const MetricsFile::Labels l{{"table", plan.name}};
        auto r = std::find_if(done.begin(), done.end(), [&](const CopyReport& c) { return c.table == plan.name; });
        double rows = 0, seconds = 0, retries = 0;
        if (r != done.end()) {
            rows = static_cast<double>(r->rows);
            seconds = r->seconds;
            retries = static_cast<double>(r->retries);
        } else if (plan.name == now.table && now.progress != nullptr) {
            rows = static_cast<double>(now.progress->rows.load());
            seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - now.started).count();
        }
        m.gauge("webookctl_copy_table_done", "1 once the table's copy has finished in this run", l,
                r != done.end() ? 1 : 0);
        m.gauge("webookctl_copy_rows", "Rows copied by this run", l, rows);
        m.gauge("webookctl_copy_rows_per_second", "Rows copied per second by this run", l,
                rows_per_second(static_cast<std::uint64_t>(rows), seconds));
        m.gauge("webookctl_copy_duration_seconds", "How long this run has copied the table", l, seconds);
        m.gauge("webookctl_copy_retries", "Attempts started again after a server went away", l, retries);
    }
    if (done.size() == plans.size())
        m.gauge("webookctl_copy_last_success_timestamp_seconds", "When the run finished copying every table", {},
                static_cast<double>(system_micros()) / 1e6);
    return m;
}

// migrate copy --dry-run: what each table's copy would do; writes nothing.
int run_copy_plan(Context& ctx, const std::vector<TablePlan>& plans, Connection& source, Connection& target,
                  Connection& control, const CopyOptions& options) {
    std::optional<CheckpointStore> store;
    if (control.table_exists(k_checkpoint_table)) store.emplace(control);
    ControlRows rows = options.mode_fence.open();
    const ModeState mode = read_mode_state(rows);
    bool refused = false;
    nlohmann::ordered_json out = nlohmann::json::array();
    for (const auto& plan : plans) {
        CopyPlanReport r = plan_copy({source, target}, plan, options, store ? &*store : nullptr, mode.mode);
        if (r.refusal.empty()) r.refusal = emptying_refusal(target, plan, plans, options);
        refused = refused || !r.refusal.empty();
        if (ctx.json()) {
            out.push_back(
                {{"table", r.table},
                 {"refused", r.refusal.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(r.refusal)},
                 {"start", r.start},
                 {"source_rows", r.source_rows},
                 {"target_rows", r.target_rows},
                 {"first_key", r.first_key},
                 {"last_key", r.last_key},
                 {"indexes", r.indexes}});
            continue;
        }
        print_line(fmt::format("{}: {} source rows, keys {} .. {}; target holds {} rows", r.table, r.source_rows,
                               r.first_key.empty() ? "-" : r.first_key, r.last_key.empty() ? "-" : r.last_key,
                               r.target_rows));
        print_line("  " + (r.refusal.empty() ? r.start : "refused: " + r.refusal));
        print_line("  indexes: " + r.indexes);
    }
    render(ctx, nlohmann::ordered_json{{"dry_run", true}, {"mode", mode_name(mode.mode)}, {"tables", out}},
           fmt::format("mode {}: {} (dry run: nothing written)", mode_name(mode.mode),
                       refused ? "the copy would be refused" : "the copy would run"));
    return refused ? k_exit_usage : k_exit_ok;
}

int run_copy(Context& ctx, CopyArgs& a) {
    CopyOptions options = a.options;
    options.start = a.resume ? CopyStart::resume : (a.truncate ? CopyStart::truncate : CopyStart::fresh);
    if (!a.shard.empty()) options.shard = Shard::parse(a.shard);
    options.validate();
    MetricsWriter metrics(a.dry_run ? "" : a.metrics_file);  // checks the path before anything is done
    const auto tables = selected_tables(ctx, a.sides.tables);
    Dsn src_dsn = side_dsn(ctx, a.sides.source, false);
    Dsn dst_dsn = side_dsn(ctx, a.sides.target, true);
    // Sessions that can start over: a server that goes away mid-copy is
    // waited for (--retry-for); one that is not there now is an error.
    auto source = connect_resumable(src_dsn);
    auto target = connect_resumable(dst_dsn);
    const Dsn ctl_dsn = control_dsn(ctx, src_dsn);
    auto control = connect_resumable(ctl_dsn);
    if (a.keep_indexes) options.indexes = IndexBuild::kept;
    options.mode_fence = control_factories(ctx, src_dsn, dst_dsn);

    // Plan every table first: a bad name fails before anything is written.
    std::vector<TablePlan> plans;
    for (const auto& t : tables) {  // a copy carries every column, so each must have its place
        plans.push_back(plan_table(*source, *target, t, IgnoredColumns::carried));
        require_matched_columns(plans.back(), "copy");
    }
    {  // parents before the children whose foreign keys reference them
        std::vector<TablePlan> ordered;
        for (std::size_t i : copy_order(*target, plans)) ordered.push_back(std::move(plans[i]));
        plans = std::move(ordered);
    }
    if (a.dry_run) return run_copy_plan(ctx, plans, *source, *target, *control, options);
    CheckpointStore checkpoints(*control);
    checkpoints.ensure_tables();
    empty_targets(*target, plans, options);  // with --truncate: children first
    nlohmann::ordered_json out = nlohmann::json::array();
    std::vector<CopyReport> done;
    for (const auto& plan : plans) {
        ProgressCounter progress;
        options.progress = &progress;
        if (a.shard.empty()) {  // the source's estimate, less what a resumed copy has done already
            std::uint64_t total = source->estimated_rows(plan.source.table).value_or(0);
            if (options.start == CopyStart::resume)
                if (auto done = checkpoints.load(CheckpointKind::copy, plan.name, "all"))
                    total -= std::min<std::uint64_t>(
                        total, static_cast<std::uint64_t>(std::max<std::int64_t>(0, done->rows_done)));
            progress.total = total;
        }
        const CopyInFlight in_flight{plan.name, &progress, std::chrono::steady_clock::now()};
        metrics.write(copy_metrics(plans, done, in_flight));
        CopyReport r;
        {
            ProgressLine line("copying " + plan.name,
                              progress);  // cleared before the result is printed
            MetricsTicker ticker(metrics, [&] { return copy_metrics(plans, done, in_flight); });
            r = copy_table({*source, *target}, plan, options, checkpoints, [dst_dsn] { return connect(dst_dsn); });
        }
        done.push_back(r);
        metrics.write(copy_metrics(plans, done, {}));
        const double rate = rows_per_second(r.rows, r.seconds);
        if (ctx.json()) {
            out.push_back({{"table", r.table},
                           {"rows", r.rows},
                           {"rows_total", r.rows_total},
                           {"resumed_after", r.resumed_after},
                           {"seconds", r.seconds},
                           {"rows_per_second", rate},
                           {"retries", r.retries},
                           {"longest_outage_seconds", r.longest_outage_seconds}});
        } else {
            print_line(
                fmt::format("{:<22} {:>10} rows copied in {:.2f}s ({:.0f} rows/s){}{}", r.table, r.rows, r.seconds,
                            rate, r.resumed_after.empty() ? "" : ", resumed after key " + r.resumed_after,
                            r.retries == 0 ? ""
                                           : fmt::format(" [{} retr{}, longest outage {:.1f}s]", r.retries,
                                                         r.retries == 1 ? "y" : "ies", r.longest_outage_seconds)));
        }
    }
    if (ctx.json()) print_line(nlohmann::ordered_json{{"copied", out}}.dump());
    return k_exit_ok;
}

struct SchemaArgs {
    SideOptions sides;
    bool all_tables = false;
    bool dry_run = false;
};

nlohmann::ordered_json schema_json(const SchemaReport& r) {
    return {{"table", r.plan.table},
            {"state", schema_state_name(r.state)},
            {"refused", r.plan.refusal.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(r.plan.refusal)},
            {"differences", r.differences},
            {"statements", r.state == SchemaState::created || r.state == SchemaState::would_create
                               ? r.plan.statements
                               : std::vector<std::string>{}},
            {"after_copy", r.plan.after_copy},
            {"notes", r.plan.notes}};
}

void print_schema_text(const SchemaReport& r, bool dry_run) {
    switch (r.state) {
    case SchemaState::refused: print_line(fmt::format("{}: refused: {}", r.plan.table, r.plan.refusal)); break;
    case SchemaState::compatible: print_line(r.plan.table + ": exists, compatible with the source"); break;
    case SchemaState::differs:
        print_line(r.plan.table + ": exists and differs from the source:");
        for (const auto& d : r.differences) print_line("  differs: " + d);
        break;
    case SchemaState::created:
    case SchemaState::would_create:
        print_line(
            fmt::format("{}: {}", r.plan.table, r.state == SchemaState::created ? "created" : "would be created"));
        if (dry_run)
            for (const auto& sql : r.plan.statements) print_line(sql + ";");
        break;
    }
    for (const auto& n : r.plan.notes) print_line("  note: " + n);
    if (!r.plan.after_copy.empty()) {
        print_line("  after the copy, run:");
        for (const auto& sql : r.plan.after_copy) print_line("    " + sql + ";");
    }
}

int run_schema(Context& ctx, SchemaArgs& a) {
    if (a.all_tables && !a.sides.tables.empty())
        throw Error(Code::usage, "--all-tables and --table exclude each other");
    Dsn src_dsn = side_dsn(ctx, a.sides.source, false);
    Dsn dst_dsn = side_dsn(ctx, a.sides.target, true);
    auto source = connect(src_dsn);
    auto target = connect(dst_dsn);
    std::vector<TableConfig> tables;
    if (a.all_tables) {
        for (const auto& name : list_tables(*source)) {
            const TableConfig* t = ctx.config.find_table(name);
            TableConfig fresh;
            fresh.name = name;
            tables.push_back(t ? *t : fresh);
        }
        if (tables.empty()) throw Error(Code::usage, "no tables in " + source->describe());
    } else {
        tables = selected_tables(ctx, a.sides.tables);
    }
    const auto reports = migrate_schema(*source, *target, tables, a.dry_run);
    int created = 0, compatible = 0, differs = 0, refused = 0;
    nlohmann::ordered_json out = nlohmann::json::array();
    for (const auto& r : reports) {
        created += r.state == SchemaState::created || r.state == SchemaState::would_create;
        compatible += r.state == SchemaState::compatible;
        differs += r.state == SchemaState::differs;
        refused += r.state == SchemaState::refused;
        if (ctx.json())
            out.push_back(schema_json(r));
        else
            print_schema_text(r, a.dry_run);
    }
    const std::string summary =
        refused ? fmt::format("{} of {} tables refused: nothing written", refused, reports.size())
                : fmt::format("{} {}, {} compatible, {} differ{}", created, a.dry_run ? "to create" : "created",
                              compatible, differs, a.dry_run ? " (dry run: nothing written)" : "");
    render(ctx, nlohmann::ordered_json{{"dry_run", a.dry_run}, {"tables", out}}, summary);
    if (refused) return k_exit_usage;
    return differs ? k_exit_findings : k_exit_ok;
}

struct ModeArgs {
    std::string source;
    std::string target;
    std::string mode;
    std::chrono::milliseconds lock_wait = SwitchRequest{}.lock_wait;
    std::chrono::seconds max_age = SwitchRequest{}.max_age;
    bool dry_run = false;
    bool force = false;
    std::string reason;
    std::string fixers_from;  // kafka://host:port/topic
    std::string fixers_group;
    std::string metrics_file;  // status
};

// "user@host", for the record of a forced switch.
std::string who_am_i() {
    std::string user;
    if (const char* sudo = std::getenv("SUDO_USER"); sudo && *sudo)
        user = sudo;
    else if (const passwd* pw = getpwuid(geteuid()))
        user = pw->pw_name;
    else
        user = std::to_string(geteuid());
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    return user + "@" + host;
}

// The target, when one is configured (the src_first gate checks its
// indexes); none otherwise.
std::unique_ptr<Connection> optional_target(const Context& ctx, const std::string& flag) {
    if (flag.empty() && ctx.config.target.empty()) return nullptr;
    return connect(side_dsn(ctx, flag, true));
}

nlohmann::ordered_json verdict_json(const GateVerdict& v) {
    return {{"ready", v.ready()}, {"unmet", v.unmet}};
}

// The control database, and the target's control table when the mode row
// may be there (a target given and no [control] dsn).
ControlRows open_control(const Context& ctx, const std::string& source_flag, const std::string& target_flag = "") {
    return control_factories(ctx, side_dsn(ctx, source_flag, false), optional_target_dsn(ctx, target_flag)).open();
}

struct ShardPlanArgs {
    std::string source;
    std::string table;
};

int run_shard_plan_reset(Context& ctx, ShardPlanArgs& a) {
    ControlRows control = open_control(ctx, a.source);
    CheckpointStore checkpoints(control.records());
    const std::size_t n = forget_shard_plans(checkpoints, a.table);
    render(ctx, nlohmann::ordered_json{{"table", a.table}, {"forgotten", n}},
           n == 0 ? fmt::format("{}: no kept split", a.table)
                  : fmt::format("{}: forgot {} kept split{}; the next --shard run plans afresh", a.table, n,
                                n == 1 ? "" : "s"));
    return k_exit_ok;
}

int run_mode_get(Context& ctx, ModeArgs& a) {
    ControlRows control = open_control(ctx, a.source, a.target);
    ModeState s = get_mode(control);
    render(ctx,
           nlohmann::ordered_json{{"mode", mode_name(s.mode)},
                                  {"version", s.version},
                                  {"since", json_time_text(s.since)},
                                  {"mode_row", place_name(s.place)},
                                  {"confirmed", s.confirmed}},
           std::string(mode_name(s.mode)));
    return k_exit_ok;
}

nlohmann::ordered_json identities_json(const std::vector<std::pair<std::string, std::int64_t>>& moved) {
    nlohmann::ordered_json j = nlohmann::ordered_json::object();
    for (const auto& [table, at] : moved) j[table] = at;
    return j;
}

std::string identities_text(const std::vector<std::pair<std::string, std::int64_t>>& moved) {
    std::string out;
    for (const auto& [table, at] : moved) out += (out.empty() ? "" : ", ") + fmt::format("{} to {}", table, at);
    return out.empty() ? out : "; id sequences moved past the rows: " + out;
}

int run_mode_set(Context& ctx, ModeArgs& a) {
    SwitchRequest req;
    req.to = parse_mode(a.mode);
    req.lock_wait = a.lock_wait;
    req.max_age = a.max_age;
    req.dry_run = a.dry_run ? DryRun::yes : DryRun::no;
    if (a.force) req.force_reason = a.reason;
    req.who = who_am_i();
    req.tables = ctx.config.tables;
    if (!a.fixers_from.empty()) {
        const KafkaUrl url = KafkaUrl::parse(a.fixers_from);
        req.fixer_brokers = url.brokers;
        req.fixer_topic = url.topic;
        req.fixer_group = a.fixers_group;
    }
    ControlRows control = open_control(ctx, a.source, a.target);
    if (req.dry_run == DryRun::no && control_moves(ctx) && home_place_of(req.to) == ControlPlace::target &&
        !optional_target_dsn(ctx, a.target)) {
        std::string why;  // an illegal step says so first
        if (!transition_allowed(read_mode_state(control).mode, req.to, &why)) throw Error(Code::usage, why);
        throw Error(Code::usage, fmt::format("the switch to {} keeps the mode row in the target's control table, so "
                                             "that from then on no user write needs the source: give --target (or "
                                             "[target] dsn); a separate [control] dsn keeps the row in one place",
                                             a.mode));
    }
    std::unique_ptr<Connection> source, target;
    if (req.to == Mode::src_first) {  // its gate checks the target's unique indexes; back, the source is the base
        source = connect(side_dsn(ctx, a.source, false));
        target = optional_target(ctx, a.target);
    }
    // Into dst_first the target becomes the base: its id sequences move past its rows.
    if (req.to == Mode::dst_first && !a.dry_run) target = optional_target(ctx, a.target);
    SwitchOutcome r = switch_mode(control, source.get(), target.get(), req);
    if (a.dry_run) {
        std::vector<std::string> lines;
        if (r.verdict.ready()) {
            lines.push_back(
                fmt::format("{} -> {}: ready (dry run: nothing changed)", mode_name(r.before.mode), a.mode));
        } else {
            lines.push_back(
                fmt::format("{} -> {}: refused (dry run: nothing changed):", mode_name(r.before.mode), a.mode));
            for (const auto& u : r.verdict.unmet) lines.push_back("  " + u);
        }
        render(ctx,
               nlohmann::ordered_json{{"from", mode_name(r.before.mode)},
                                      {"to", a.mode},
                                      {"dry_run", true},
                                      {"gate", verdict_json(r.verdict)}},
               lines);
        return r.verdict.ready() ? k_exit_ok : k_exit_usage;
    }
    render(ctx,
           nlohmann::ordered_json{{"from", mode_name(r.before.mode)},
                                  {"to", mode_name(r.after.mode)},
                                  {"changed", r.changed},
                                  {"version", r.after.version},
                                  {"waited_seconds", r.waited_seconds},
                                  {"forced", r.forced},
                                  {"mode_row", place_name(r.after.place)},
                                  {"moved", r.moved},
                                  {"confirmed", r.after.confirmed},
                                  {"gate", verdict_json(r.verdict)},
                                  {"identities_moved", identities_json(r.identities_moved)}},
           (r.changed ? fmt::format("{} -> {} (version {}; waited {:.3f}s for writers in flight){}",
                                    mode_name(r.before.mode), mode_name(r.after.mode), r.after.version,
                                    r.waited_seconds, r.forced ? "; forced past its gate, recorded" : "")
                      : fmt::format("already {}", mode_name(r.after.mode))) +
               (r.moved ? fmt::format("; the mode row moved to the {}", place_name(r.after.place)) : "") +
               (r.after.confirmed ? "" : "; not yet confirmed there: run this again") +
               identities_text(r.identities_moved));
    return k_exit_ok;
}

// What migrate status shows.
struct Status {
    ModeState mode;
    SecondSideFailures failures;
    std::vector<std::pair<Mode, GateVerdict>> steps;  // the next step each way: ready, or what blocks it
    std::vector<ForcedSwitch> forced;
    std::vector<Checkpoint> checkpoints;
    // Why the checkpoints and gates could not be read: the control database
    // (the source, by default) is unreachable -- retired in dst_only, say --
    // while the mode row is in the target. Empty when they were.
    std::string records_unavailable;
    std::int64_t now_us = 0;  // the control database's clock, which stamps the passes
};

bool is_forward(const Status& st, Mode to) {
    return static_cast<int>(to) > static_cast<int>(st.mode.mode);
}

nlohmann::ordered_json status_json(const Status& st) {
    nlohmann::ordered_json j;
    j["mode"] = mode_name(st.mode.mode);
    j["version"] = st.mode.version;
    j["since"] = json_time_text(st.mode.since);
    j["mode_row"] = place_name(st.mode.place);
    j["confirmed"] = st.mode.confirmed;
    j["second_side_failures"] = st.failures.count;
    j["steps"] = nlohmann::ordered_json::array();
    for (const auto& [to, v] : st.steps) {
        nlohmann::ordered_json sj = verdict_json(v);
        sj["to"] = mode_name(to);
        sj["direction"] = is_forward(st, to) ? "forward" : "back";
        j["steps"].push_back(sj);
    }
    j["forced_switches"] = nlohmann::ordered_json::array();
    for (const auto& f : st.forced)
        j["forced_switches"].push_back({{"from", mode_name(f.from)},
                                        {"to", mode_name(f.to)},
                                        {"version", f.version},
                                        {"who", f.who},
                                        {"at", json_time(f.at_us)},
                                        {"reason", f.reason},
                                        {"unmet", f.unmet}});
    if (!st.records_unavailable.empty()) j["records_unavailable"] = st.records_unavailable;
    j["checkpoints"] = nlohmann::ordered_json::array();
    for (const auto& c : st.checkpoints) {
        nlohmann::ordered_json cj{{"table", c.table},    {"kind", checkpoint_kind_name(c.kind)},
                                  {"shard", c.shard},    {"position", c.position ? *c.position : ""},
                                  {"rows", c.rows_done}, {"updated_at", json_time_text(c.updated_at)}};
        // A result is JSON for most kinds; a deferred index's is its definition (SQL text).
        if (!c.result.empty()) {
            auto parsed = nlohmann::ordered_json::parse(c.result, nullptr, false);
            cj["result"] = parsed.is_discarded() ? nlohmann::ordered_json(c.result) : std::move(parsed);
        }
        j["checkpoints"].push_back(cj);
    }
    return j;
}

std::vector<std::string> status_text(const Status& st) {
    const ModeState& s = st.mode;
    std::vector<std::string> lines;
    lines.push_back(fmt::format("mode {} since {} (version {}; its row in the {}'s control table{})", mode_name(s.mode),
                                s.since.empty() ? "the start" : s.since, s.version, place_name(s.place),
                                s.confirmed ? "" : ", not yet confirmed: run 'migrate mode set' again"));
    lines.push_back(fmt::format("second-side write failures: {}", st.failures.count));
    if (!st.records_unavailable.empty())
        lines.push_back("checkpoints and gates: unavailable, the control database does not answer (" +
                        st.records_unavailable + ")");
    for (const auto& [to, v] : st.steps) {
        lines.push_back(fmt::format("{} to {}: {}", is_forward(st, to) ? "forward" : "back", mode_name(to),
                                    v.ready() ? "ready" : "blocked"));
        for (const auto& u : v.unmet) lines.push_back("  " + u);
    }
    for (const auto& f : st.forced)
        lines.push_back(fmt::format("forced: {} -> {} (version {}) by {} at {} UTC: {}; unmet: {}", mode_name(f.from),
                                    mode_name(f.to), f.version, f.who, text_time(f.at_us), f.reason,
                                    fmt::join(f.unmet, "; ")));
    for (const auto& c : st.checkpoints)
        lines.push_back(fmt::format("{:<22} {:<22} {:<5} position {:<24} rows {:<10} at {}{}", c.table,
                                    checkpoint_kind_name(c.kind), c.shard, c.position ? *c.position : "-", c.rows_done,
                                    c.updated_at, c.result.empty() ? "" : "  " + c.result));
    return lines;
}

// migrate status --metrics-file: the mode, how long since it was set, the
// second-side failures, each step's gate, and per table and shard the last
// validation pass of each kind: its age, its differences and its base.
MetricsFile status_metrics(const Status& st) {
    MetricsFile m;
    for (Mode mode : {Mode::src_only, Mode::src_first, Mode::dst_first, Mode::dst_only})
        m.gauge("webookctl_migration_mode", "1 for the current migration mode",
                {{"mode", std::string(mode_name(mode))}}, mode == st.mode.mode ? 1 : 0);
    m.gauge("webookctl_migration_mode_version", "The mode row's version, bumped by every switch", {},
            static_cast<double>(st.mode.version));
    m.gauge("webookctl_migration_mode_confirmed", "0 while a switch is not finished where the mode row lives", {},
            st.mode.confirmed ? 1 : 0);
    if (!st.mode.since.empty()) {
        const double since = static_cast<double>(Value::parse(ValueKind::datetime, st.mode.since).micros());
        m.gauge("webookctl_migration_seconds_since_switch", "Seconds since the current mode was set", {},
                std::max(0.0, (static_cast<double>(st.now_us) - since) / 1e6));
    }
    m.gauge("webookctl_migration_second_side_failures", "Double-writes whose second side failed", {},
            static_cast<double>(st.failures.count));
    m.gauge("webookctl_migration_records_available",
            "0 when the control database holding checkpoints and gates does not answer", {},
            st.records_unavailable.empty() ? 1 : 0);
    for (const auto& [to, v] : st.steps)
        m.gauge("webookctl_migration_step_ready", "1 when the gate of the next step that way is met",
                {{"to", std::string(mode_name(to))}, {"direction", is_forward(st, to) ? "forward" : "back"}},
                v.ready() ? 1 : 0);
    m.gauge("webookctl_migration_forced_switches", "Switches forced past their gate", {},
            static_cast<double>(st.forced.size()));
    for (const auto& c : st.checkpoints) {
        if (c.kind != CheckpointKind::pass_incremental && c.kind != CheckpointKind::pass_full) continue;
        const std::optional<PassRecord> p = from_checkpoint<PassRecord>(c);
        if (!p) continue;
        const MetricsFile::Labels l{{"table", p->table},
                                    {"kind", p->kind == PassKind::full ? "full" : "incremental"},
                                    {"shard", p->shard},
                                    {"base", std::string(base_side_name(p->base))}};
        m.gauge("webookctl_migration_validation_age_seconds", "Seconds since the table's last validation pass ended", l,
                std::max(0.0, static_cast<double>(st.now_us - p->ended_us) / 1e6));
        m.gauge("webookctl_migration_validation_differences", "Differences the table's last validation pass found", l,
                static_cast<double>(p->found));
    }
    return m;
}

int run_status(Context& ctx, ModeArgs& a) {
    if (!a.metrics_file.empty()) check_metrics_path(a.metrics_file);
    ControlRows control = open_control(ctx, a.source, a.target);
    Status st;
    st.mode = get_mode(control);
    st.now_us = control_clock_us(control.at(st.mode.place));
    st.failures = read_second_side_failures(control.at(st.mode.place));
    try {
        st.checkpoints = CheckpointStore(control.records()).load_all();
    } catch (const Error& e) {
        if (e.code() != Code::connection || st.mode.place != ControlPlace::target) throw;
        st.records_unavailable = e.what();
    }
    for (int step : {1, -1}) {
        if (!st.records_unavailable.empty()) break;
        const int to = static_cast<int>(st.mode.mode) + step;
        if (to < 0 || to > static_cast<int>(Mode::dst_only)) continue;
        SwitchRequest req;
        req.to = static_cast<Mode>(to);
        req.dry_run = DryRun::yes;
        req.max_age = a.max_age;
        req.tables = ctx.config.tables;
        std::unique_ptr<Connection> source, target;
        if (req.to == Mode::src_first && st.mode.mode == Mode::src_only) {
            source = connect(side_dsn(ctx, a.source, false));
            target = optional_target(ctx, a.target);
        }
        st.steps.emplace_back(req.to, switch_mode(control, source.get(), target.get(), req).verdict);
    }
    st.forced = forced_switches(st.checkpoints);
    render(ctx, status_json(st), status_text(st));
    if (!a.metrics_file.empty()) status_metrics(st).write(a.metrics_file);
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
    add_duration_option(copy, "--retry-for", a->options.retry_for,
                        "how long a server may stay away (restart, failover, lost connection) before the copy gives "
                        "up; 0 = no retry");
    copy->add_flag("--dry-run", a->dry_run,
                   "print the plan -- tables, key ranges, row counts, what happens to the target and its indexes, "
                   "whether the phase allows it -- and write nothing (exit 2 if it would be refused)");
    copy->add_flag("--keep-indexes", a->keep_indexes,
                   "maintain the target's secondary indexes during the load instead of dropping them and "
                   "rebuilding them after it (default: rebuild after, in src_only and without --shard)");
    add_throttle_options(copy, a->options.throttle, a->shard);
    add_metrics_option(copy, a->metrics_file, "when each table starts and ends, and every 5 s while one is copied");
    example(copy,
            "webookctl migrate copy --table interactives --source mysql://webook@db1:3306/webook "
            "--target postgres://webook@db2:5432/webook --resume");
    bind_action(copy, ctx, a, run_copy);

    auto sa = std::make_shared<SchemaArgs>();
    CLI::App* schema = migrate->add_subcommand(
        "schema",
        "create the target's tables from the source's definitions (types mapped, see README 'Type mapping'); "
        "an existing table is compared, never changed");
    add_side_options(schema, sa->sides);
    schema->add_flag("--all-tables", sa->all_tables,
                     "every base table of the source's database (webookctl's own left out), with their "
                     "[[tables]] settings where configured");
    schema->add_flag("--dry-run", sa->dry_run, "print the statements and what would be compared; write nothing");
    schema->footer(
        "Exit: 0 created or compatible, 1 an existing table differs, 2 a table cannot be created "
        "exactly (nothing is written for any table).");
    example(schema,
            "webookctl migrate schema --all-tables --source mysql://webook@db1:3306/webook "
            "--target postgres://webook@db2:5432/webook --dry-run");
    bind_action(schema, ctx, sa, run_schema);

    auto m = std::make_shared<ModeArgs>();
    CLI::App* mode = migrate->add_subcommand("mode",
                                             "read or switch the migration mode (src_only, src_first, "
                                             "dst_first, dst_only)");
    mode->require_subcommand(1);
    CLI::App* get = mode->add_subcommand("get", "print the current mode");
    get->add_option("--source", m->source, "source DSN; the control table lives there unless [control] dsn is set");
    get->add_option("--target", m->target, "target DSN: the mode row moves there from dst_first on");
    example(get, "webookctl migrate mode get --source mysql://webook@db1:3306/webook");
    bind_action(get, ctx, m, run_mode_get);
    CLI::App* set = mode->add_subcommand("set",
                                         "switch the mode one step forward or back, through its gate; returns "
                                         "once no writer applies the old mode");
    set->add_option("MODE", m->mode, "src_only|src_first|dst_first|dst_only")->required();
    set->add_option("--source", m->source, "source DSN; the control table lives there unless [control] dsn is set");
    set->add_option("--target", m->target,
                    "target DSN: the mode row moves there from dst_first on; the src_first gate checks its unique "
                    "indexes");
    add_duration_option(set, "--lock-wait", m->lock_wait, "how long to wait for writers in flight");
    add_duration_option(set, "--max-age", m->max_age, "the newest clean incremental pass a gate accepts");
    set->add_flag("--dry-run", m->dry_run, "print the gate's verdict; change nothing (exit 0 ready, 2 refused)");
    auto* force = set->add_flag("--force", m->force, "switch even though the gate is not met (needs --reason)");
    auto* reason = set->add_option("--reason", m->reason, "why the gate is overridden; recorded with who and when");
    force->needs(reason);
    reason->needs(force);
    auto* fixers_from = set->add_option("--from", m->fixers_from,
                                        "the fixers' events, kafka://host:port/topic: the validation gates also need "
                                        "their consumer group (--group) to have processed every event");
    auto* fixers_group = set->add_option("--group", m->fixers_group, "the fixers' Kafka consumer group");
    fixers_from->needs(fixers_group);
    fixers_group->needs(fixers_from);
    set->footer(
        "Gates: -> src_first needs every table copied, its deferred indexes rebuilt and the "
        "target's unique\n"
        "indexes in place; every other step needs, per table, a clean incremental pass with the "
        "base of\n"
        "the new mode, newer than --max-age and begun after the last second-side failure.\n"
        "'webookctl migrate status' shows what blocks the next step each way.");
    example(set, "webookctl migrate mode set dst_first --source mysql://webook@db1:3306/webook --dry-run");
    bind_action(set, ctx, m, run_mode_set);

    auto sp = std::make_shared<ShardPlanArgs>();
    CLI::App* shard_plan = migrate->add_subcommand("shard-plan", "the kept --shard splits of a table");
    shard_plan->require_subcommand(1);
    CLI::App* reset = shard_plan->add_subcommand("reset",
                                                 "forget a table's kept splits, so the next --shard run plans "
                                                 "afresh (refused while a sharded "
                                                 "copy of it is unfinished; stop sharded runs elsewhere first)");
    reset->add_option("--table", sp->table, "the table")->required();
    reset->add_option("--source", sp->source, "source DSN; the control table lives there unless [control] dsn is set");
    example(reset, "webookctl migrate shard-plan reset --table interactives");
    bind_action(reset, ctx, sp, run_shard_plan_reset);

    CLI::App* status = migrate->add_subcommand("status",
                                               "mode, what blocks the next step each way, checkpoints, forced "
                                               "switches, second-side failures");
    status->add_option("--source", m->source, "source DSN; the control table lives there unless [control] dsn is set");
    status->add_option("--target", m->target,
                       "target DSN: the mode row moves there from dst_first on; the src_first gate checks its unique "
                       "indexes");
    add_duration_option(status, "--max-age", m->max_age, "the newest clean incremental pass a gate accepts");
    add_metrics_option(status, m->metrics_file, "with what it printed");
    example(status, "webookctl migrate status --output json");
    bind_action(status, ctx, m, run_status);
}

}  // namespace webook::cli
