// webookctl ops: the platform's operations jobs.
//
//   ops rank recompute   the hot ranking, under the rank-hot lease
//   ops rank show        the current hot ranking
//   ops jobs list|show   the job leases: who holds what until when
//   ops outbox|payments|ledger ...   cli/ops_payments.cpp
//   ops reconcile        cli/ops_reconcile.cpp
//
// register_ops() creates the `ops` group once; each job family registers
// its subcommands on it with a function of its own.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/platform.h"
#include "cli/render.h"
#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/base/metrics.h"
#include "core/db/db.h"
#include "platform/job_lease.h"
#include "platform/ranking.h"

namespace webook::cli {
namespace {

std::unique_ptr<Connection> open_platform_db(const Context& ctx, const std::string& flag) {
    return connect(resolve_dsn(ctx, Side::source, flag, "--dsn"));
}

std::string utc(std::int64_t micros) {
    return format_datetime(micros) + " UTC";
}

// ---- ops rank ---------------------------------------------------------

struct RankArgs {
    std::string dsn;
    PlatformTarget where;  // recompute
    std::string now;       // --now; default: the database's clock
    RankJobOptions job;
    std::size_t limit = 0;     // show: 0 = the whole ranking
    std::string metrics_file;  // recompute
};

// ops rank recompute --metrics-file: whether this run computed the ranking
// (or another host held the lease), and what it published.
void write_rank_metrics(const std::string& path, const RankJobResult& r) {
    MetricsFile m;
    m.gauge("webookctl_rank_ran", "1 when this run held the lease and published; 0 when another host held it", {},
            r.ran() ? 1 : 0);
    if (r.ran()) {
        const RecomputeResult& c = *r.computed;
        m.gauge("webookctl_rank_version", "The published ranking's version", {},
                static_cast<double>(c.ranking.version));
        m.gauge("webookctl_rank_ranked", "Articles in the published ranking", {},
                static_cast<double>(c.ranking.items.size()));
        m.gauge("webookctl_rank_articles_scanned", "Articles scored (published within the window)", {},
                static_cast<double>(c.stats.articles));
        m.gauge("webookctl_rank_duration_seconds", "How long scoring took", {}, c.stats.seconds);
        m.gauge("webookctl_rank_last_success_timestamp_seconds", "When this host last published the ranking", {},
                static_cast<double>(system_micros()) / 1e6);
    }
    m.write(path);
}

nlohmann::ordered_json item_json(const RankedArticle& a) {
    return {{"position", a.position},
            {"article_id", a.article_id},
            {"title", a.title},
            {"author_id", a.author_id},
            {"like_cnt", a.like_cnt},
            {"score", a.score},
            {"published_at", json_time(a.ctime_micros)}};
}

int run_rank_recompute(Context& ctx, RankArgs& a) {
    RankJobOptions options = a.job;
    if (!a.now.empty()) {
        try {
            options.rank.now_micros = Value::parse(ValueKind::datetime, a.now).micros();
        } catch (const Error&) {
            throw Error(Code::usage, fmt::format("--now '{}' is not a time like '2026-11-01 00:00:00'", a.now));
        }
    }
    options.validate();
    if (!a.metrics_file.empty()) check_metrics_path(a.metrics_file);
    // During a migration the lease and the ranking go through the double-write
    // connection; the ranking is computed from the authoritative side.
    auto db = ops_database(ctx, a.where);
    auto conn = db->write();
    if (db->double_write) options.read_connection = db->read;
    // A second connection streams articles while the first reads like counts.
    options.rank.scan_connection = db->read;
    RankJobResult r = run_hot_ranking_job(*conn, options);
    if (!a.metrics_file.empty()) write_rank_metrics(a.metrics_file, r);

    if (!r.ran()) {
        render(ctx,
               nlohmann::ordered_json{{"job", k_rank_hot_job},
                                      {"ran", false},
                                      {"owner", r.owner},
                                      {"holder", r.holder},
                                      {"holder_until", json_time(r.holder_until_micros)}},
               fmt::format("{} is held by {} until {}: not computing here", k_rank_hot_job, r.holder,
                           utc(r.holder_until_micros)));
        return k_exit_ok;
    }
    const RecomputeResult& c = *r.computed;
    render(ctx,
           nlohmann::ordered_json{{"job", k_rank_hot_job},
                                  {"ran", true},
                                  {"owner", r.owner},
                                  {"version", c.ranking.version},
                                  {"ranked", c.ranking.items.size()},
                                  {"articles", c.stats.articles},
                                  {"batches", c.stats.batches},
                                  {"computed_at", json_time(c.stats.now_micros)},
                                  {"seconds", c.stats.seconds},
                                  {"lease_renewals", r.renewals}},
           fmt::format("hot ranking version {} published: top {} of {} articles published in the last {} "
                       "(gravity {}), scored in {:.2f}s",
                       c.ranking.version, c.ranking.items.size(), c.stats.articles,
                       format_duration(options.rank.window), options.rank.gravity, c.stats.seconds));
    return k_exit_ok;
}

int run_rank_show(Context& ctx, RankArgs& a) {
    auto conn = open_platform_db(ctx, a.dsn);
    std::optional<Ranking> ranking = current_hot_ranking(*conn, a.limit);
    nlohmann::ordered_json j;
    j["ranking"] = k_hot_ranking;
    j["version"] = ranking ? nlohmann::ordered_json(ranking->version) : nlohmann::ordered_json(nullptr);
    j["computed_at"] =
        ranking ? nlohmann::ordered_json(json_time(ranking->computed_at_micros)) : nlohmann::ordered_json(nullptr);
    j["items"] = nlohmann::ordered_json::array();
    if (!ranking) {
        render(ctx, j, "no hot ranking yet: run 'webookctl ops rank recompute'");
        return k_exit_ok;
    }
    std::vector<std::string> lines{
        fmt::format("hot ranking version {}, computed at {}", ranking->version, utc(ranking->computed_at_micros)),
        fmt::format("{:>5}  {:>20}  {:>10}  {:>14}  {:<26}  {}", "#", "article", "likes", "score", "published (UTC)",
                    "title")};
    for (const auto& item : ranking->items) {
        j["items"].push_back(item_json(item));
        lines.push_back(fmt::format("{:>5}  {:>20}  {:>10}  {:>14.6f}  {:<26}  {}", item.position, item.article_id,
                                    item.like_cnt, item.score, format_datetime(item.ctime_micros), item.title));
    }
    render(ctx, j, lines);
    return k_exit_ok;
}

void register_rank(CLI::App& ops, Context& ctx) {
    CLI::App* rank = ops.add_subcommand("rank", "the hot ranking of published articles");
    rank->require_subcommand(1);

    auto a = std::make_shared<RankArgs>();
    CLI::App* recompute = rank->add_subcommand(
        "recompute",
        "compute the hot ranking and replace the stored one atomically; under the rank-hot lease, so "
        "when cron fires on many hosts one computes and the others exit 0 naming the holder");
    add_ops_options(recompute, a->where);
    recompute->add_option("--gravity", a->job.rank.gravity,
                          "score = (likes - 1) / (hours since publish + 2) ^ gravity (default: 1.5)");
    add_duration_option(recompute, "--window", a->job.rank.window,
                        "rank articles published within this long, e.g. 7d, 36h");
    recompute->add_option("--top", a->job.rank.top, "how many articles the ranking keeps (default: 100)");
    recompute->add_option("--batch-size", a->job.rank.batch_size,
                          "articles read per batch and per like-count query (default: 2000)");
    add_duration_option(recompute, "--lease", a->job.lease,
                        "how long the job lease lasts unless renewed; renewed every third of it");
    recompute->add_option("--owner", a->job.owner, "this host's name in the lease (default: hostname:pid)");
    add_metrics_option(recompute, a->metrics_file, "at the end of the run");
    recompute->add_option("--now", a->now,
                          "score as of this UTC time, e.g. '2026-11-01 00:00:00' (default: the database's clock)");
    example(recompute, "webookctl ops rank recompute --dsn mysql://webook@127.0.0.1:13306/webook --top 100");
    bind_action(recompute, ctx, a, run_rank_recompute);

    CLI::App* show = rank->add_subcommand("show", "print the current hot ranking (text or --output json)");
    add_ops_dsn_option(show, a->dsn);
    show->add_option("--limit", a->limit, "print the first N articles (default: all of them)");
    example(show, "webookctl --output json ops rank show --limit 10");
    bind_action(show, ctx, a, run_rank_show);
}

// ---- ops jobs ---------------------------------------------------------

struct JobsArgs {
    std::string dsn;
    std::string name;
};

std::string_view job_state_name(const JobState& s) {
    if (!s.owner) return "free";
    return s.expired ? "expired" : "held";
}

nlohmann::ordered_json job_json(const JobState& s) {
    auto opt_time = [](const std::optional<std::int64_t>& t) {
        return t ? nlohmann::ordered_json(json_time(*t)) : nlohmann::ordered_json(nullptr);
    };
    return {{"name", s.name},
            {"state", job_state_name(s)},
            {"owner", s.owner ? nlohmann::ordered_json(*s.owner) : nlohmann::ordered_json(nullptr)},
            {"lease_until", opt_time(s.until_micros)},
            {"version", s.version},
            {"last_run_at", opt_time(s.last_run_micros)}};
}

std::string job_line(const JobState& s) {
    return fmt::format("{:<16} {:<8} {:<28} {:<27} {:>8}  {}", s.name, job_state_name(s), s.owner.value_or("-"),
                       s.until_micros ? format_datetime(*s.until_micros) : "-", s.version,
                       s.last_run_micros ? format_datetime(*s.last_run_micros) : "never");
}

const std::string k_jobs_header = fmt::format("{:<16} {:<8} {:<28} {:<27} {:>8}  {}", "job", "state", "owner",
                                              "lease until (UTC)", "version", "last run (UTC)");

int run_jobs_list(Context& ctx, JobsArgs& a) {
    auto conn = open_platform_db(ctx, a.dsn);
    JobLeases leases(*conn);
    auto jobs = leases.list();
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    std::vector<std::string> lines{k_jobs_header};
    for (const auto& s : jobs) {
        out.push_back(job_json(s));
        lines.push_back(job_line(s));
    }
    render(ctx, nlohmann::ordered_json{{"jobs", out}}, lines);
    return k_exit_ok;
}

int run_jobs_show(Context& ctx, JobsArgs& a) {
    check_job_name(a.name);  // before connecting: a typo is a usage error
    auto conn = open_platform_db(ctx, a.dsn);
    JobLeases leases(*conn);
    auto state = leases.get(a.name);
    if (!state) {
        render(ctx, nlohmann::ordered_json{{"name", a.name}, {"state", "never run"}},
               fmt::format("{}: never run", a.name));
        return k_exit_ok;
    }
    render(ctx, job_json(*state), std::vector<std::string>{k_jobs_header, job_line(*state)});
    return k_exit_ok;
}

void register_jobs(CLI::App& ops, Context& ctx) {
    CLI::App* jobs = ops.add_subcommand("jobs", "the job leases: which host holds which job until when");
    jobs->require_subcommand(1);
    auto a = std::make_shared<JobsArgs>();

    CLI::App* list = jobs->add_subcommand("list", "every job that ever ran, with its holder and lease");
    add_ops_dsn_option(list, a->dsn);
    example(list, "webookctl ops jobs list --output json");
    bind_action(list, ctx, a, run_jobs_list);

    CLI::App* show = jobs->add_subcommand("show", "one job's holder and lease (exit 2 for an unknown job)");
    show->add_option("NAME", a->name, "the job, e.g. rank-hot")->required();
    add_ops_dsn_option(show, a->dsn);
    example(show, "webookctl ops jobs show rank-hot");
    bind_action(show, ctx, a, run_jobs_show);
}

}  // namespace

void register_ops(CLI::App& app, Context& ctx) {
    CLI::App* ops = app.add_subcommand("ops",
                                       "the platform's operations jobs: hot ranking, job leases, outbox "
                                       "relay, payments, ledger, reconciliation");
    ops->require_subcommand(1);
    register_rank(*ops, ctx);
    register_jobs(*ops, ctx);
    register_ops_payments(ops, ctx);
    register_ops_reconcile(ops, ctx);
}

}  // namespace webook::cli
