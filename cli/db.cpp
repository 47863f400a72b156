// webookctl db init|seed|counts
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/render.h"
#include "core/base/error.h"
#include "core/db/db.h"
#include "migrate/mode_control.h"
#include "platform/schema.h"
#include "platform/seed.h"

namespace webook::cli {
namespace {

struct DbTarget {
    std::string dsn;              // --dsn; default: the side's dsn from config/env
    std::string side = "source";  // --side: which configured database and password variable
};

void add_target_options(CLI::App* cmd, DbTarget& t) {
    cmd->add_option("--dsn", t.dsn,
                    "database, mysql://user@host:port/db or postgres://user@host:port/db "
                    "(default: the --side database from config/env)");
    cmd->add_option("--side", t.side, "source|target: default DSN and password variable (default: source)")
        ->check(CLI::IsMember({"source", "target"}));
}

std::unique_ptr<Connection> open(const Context& ctx, const DbTarget& t) {
    return connect(resolve_dsn(ctx, t.side == "target" ? Side::target : Side::source, t.dsn, "--dsn"));
}

std::string counts_text(const std::vector<TableCount>& counts) {
    std::string out;
    for (const auto& c : counts) out += fmt::format("{:<24} {:>12}\n", c.table, c.rows);
    if (!out.empty()) out.pop_back();
    return out;
}

// Rows by table, in the order of the table names.
nlohmann::ordered_json counts_json(const std::vector<TableCount>& counts) {
    std::map<std::string, std::int64_t> by_name;
    for (const auto& c : counts) by_name[c.table] = c.rows;
    return by_name;
}

struct SeedArgs {
    DbTarget target;
    SeedOptions options;
    bool truncate = false;
    std::string base_time;
};

int run_init(Context& c, DbTarget& t) {
    auto conn = open(c, t);
    InitResult r = init_schema(*conn);
    // The source holds the migration mode (src_only until switched).
    if (t.side == "source") ensure_mode_row(*conn);
    // The db commands' JSON keys are in alphabetical order, as they have always been printed.
    render(c, nlohmann::ordered_json{{"created", r.created}, {"dsn", conn->describe()}, {"existing", r.existing}},
           fmt::format("{}: {} tables created, {} already existed", conn->describe(), r.created.size(),
                       r.existing.size()));
    return k_exit_ok;
}

int run_seed(Context& c, SeedArgs& a) {
    const std::string& base_time = a.base_time;
    SeedOptions options = a.options;
    options.truncate = a.truncate ? Truncate::yes : Truncate::no;
    if (!base_time.empty()) {
        try {
            options.base_time_micros = Value::parse(ValueKind::datetime, base_time).micros();
        } catch (const Error&) {
            throw Error(Code::usage, fmt::format("--base-time '{}' is not a time like "
                                                 "'2026-11-01 00:00:00'",
                                                 base_time));
        }
    }
    options.validate();
    auto conn = open(c, a.target);
    SeedResult r = seed_database(*conn, options);
    std::int64_t total = 0;
    for (const auto& t : r.inserted) total += t.rows;
    const double rate = rows_per_second(total, r.seconds);
    render(c,
           nlohmann::ordered_json{{"dsn", conn->describe()},
                                  {"inserted", counts_json(r.inserted)},
                                  {"rows", total},
                                  {"rows_per_second", rate},
                                  {"seconds", r.seconds}},
           std::vector<std::string>{
               fmt::format("seeded {}: {} rows in {:.2f}s ({:.0f} rows/s)", conn->describe(), total, r.seconds, rate),
               counts_text(r.inserted)});
    return k_exit_ok;
}

int run_counts(Context& c, DbTarget& t) {
    auto conn = open(c, t);
    auto rows = count_rows(*conn);
    render(c, nlohmann::ordered_json{{"dsn", conn->describe()}, {"tables", counts_json(rows)}},
           conn->describe() + "\n" + counts_text(rows));
    return k_exit_ok;
}

}  // namespace

void register_db(CLI::App& app, Context& ctx) {
    CLI::App* db = app.add_subcommand("db", "create, seed and inspect the webook schema");
    db->require_subcommand(1);

    auto init_target = std::make_shared<DbTarget>();
    CLI::App* init = db->add_subcommand("init", "create the webook tables and the control tables (idempotent)");
    add_target_options(init, *init_target);
    example(init, "webookctl db init --dsn postgres://webook@127.0.0.1:15432/webook");
    bind_action(init, ctx, init_target, run_init);

    auto seed_args = std::make_shared<SeedArgs>();
    auto& seed_options = seed_args->options;
    CLI::App* seed = db->add_subcommand("seed", "fill the webook tables with deterministic, realistic data");
    add_target_options(seed, seed_args->target);
    seed->add_option("--users", seed_options.users, "users (default: 1000)");
    seed->add_option("--articles", seed_options.articles, "articles (default: 5000)");
    seed->add_option("--interactives", seed_options.interactives,
                     "interactives rows (default: one per article; more adds other bizes)");
    seed->add_option("--likes", seed_options.likes, "user_like_bizs rows (default: 20000)");
    seed->add_option("--collects", seed_options.collects, "user_collection_bizs rows (default: 5000)");
    seed->add_option("--rewards", seed_options.rewards, "rewards, with payments and ledger (default: 500)");
    seed->add_option("--seed", seed_options.seed, "random seed (default: 42)");
    seed->add_option("--base-time", seed_args->base_time,
                     "the data's 'now', e.g. '2026-11-01 00:00:00' (default: this hour, UTC)");
    seed->add_flag("--truncate", seed_args->truncate, "empty the tables first (default: refuse non-empty tables)");
    example(seed,
            "webookctl db seed --dsn mysql://webook@127.0.0.1:13306/webook --articles 100000 "
            "--interactives 1000000");
    bind_action(seed, ctx, seed_args, run_seed);

    auto counts_target = std::make_shared<DbTarget>();
    CLI::App* counts = db->add_subcommand("counts", "print the row count of every webook table");
    add_target_options(counts, *counts_target);
    example(counts, "webookctl db counts --dsn mysql://webook@127.0.0.1:13306/webook --output json");
    bind_action(counts, ctx, counts_target, run_counts);
}

}  // namespace webook::cli
