// Option plumbing shared by the command groups.
#include <cctype>

#include <fmt/format.h>

#include "cli/cli.h"
#include "core/base/error.h"
#include "core/db/db.h"

namespace webook::cli {

void add_side_options(CLI::App* cmd, SideOptions& o) {
    cmd->add_option("--source", o.source, "source DSN (env: WEBOOKCTL_SOURCE_DSN; config: [source] dsn)");
    cmd->add_option("--target", o.target, "target DSN (env: WEBOOKCTL_TARGET_DSN; config: [target] dsn)");
    cmd->add_option("--table", o.tables, "table to work on, repeatable (default: every [[tables]] entry)");
}

void add_throttle_options(CLI::App* cmd, ThrottleOptions& t, std::string& shard) {
    cmd->add_option("--rows-per-second", t.rows_per_second,
                    "read at most this many rows/s per side (default: unlimited)");
    cmd->add_option("--max-load", t.max_load,
                    "pause while the server is busier than this, e.g. Threads_running=25 "
                    "(PostgreSQL: active sessions)");
    cmd->add_option("--shard", shard, "work on the i-th of n key ranges, e.g. 2/8 (default: the whole table)");
}

Dsn resolve_dsn(const Context& ctx, Side side, const std::string& flag, std::string_view flag_name) {
    const bool target = side == Side::target;
    DatabaseConfig db = target ? ctx.config.target : ctx.config.source;
    if (!flag.empty()) db.dsn = flag;
    if (db.dsn.empty())
        throw Error(Code::usage, fmt::format("no {0} database: pass {2} or set WEBOOKCTL_{1}_DSN or [{0}] dsn",
                                             target ? "target" : "source", target ? "TARGET" : "SOURCE", flag_name));
    return database_dsn(db, target ? DsnRole::target : DsnRole::source, target ? "target" : "source");
}

Dsn control_dsn(const Context& ctx, const Dsn& source) {
    if (ctx.config.control.empty()) return source;
    return database_dsn(ctx.config.control, DsnRole::source, "control");
}

bool control_moves(const Context& ctx) {
    return ctx.config.control.empty();
}

std::optional<Dsn> optional_target_dsn(const Context& ctx, const std::string& flag) {
    if (flag.empty() && ctx.config.target.empty()) return std::nullopt;
    return side_dsn(ctx, flag, true);
}

ControlFactories control_factories(const Context& ctx, const Dsn& source, const std::optional<Dsn>& target) {
    ControlFactories f;
    f.control = [control = control_dsn(ctx, source)] { return connect(control); };
    if (target && control_moves(ctx)) f.target = [t = *target] { return connect(t); };
    return f;
}

std::vector<TableConfig> selected_tables(const Context& ctx, const std::vector<std::string>& names) {
    if (names.empty()) {
        if (ctx.config.tables.empty())
            throw Error(Code::usage, "no tables: pass --table NAME or configure [[tables]] in the config file");
        return ctx.config.tables;
    }
    std::vector<TableConfig> out;
    for (const auto& n : names) {
        if (const TableConfig* t = ctx.config.find_table(n)) {
            out.push_back(*t);
        } else {
            TableConfig fresh;
            fresh.name = n;
            fresh.validate();
            out.push_back(fresh);
        }
    }
    return out;
}

void add_metrics_option(CLI::App* cmd, std::string& path, const std::string& when) {
    cmd->add_option("--metrics-file", path,
                    "write Prometheus metrics to this file (node_exporter textfile collector; written whole, then "
                    "renamed) " +
                        when)
        ->type_name("PATH");
}

void add_ops_dsn_option(CLI::App* cmd, std::string& dsn) {
    cmd->add_option("--dsn", dsn,
                    "the webook database, mysql://user@host:port/db or postgres://user@host:port/db "
                    "(default: WEBOOKCTL_SOURCE_DSN or [source] dsn)");
}

}  // namespace webook::cli
