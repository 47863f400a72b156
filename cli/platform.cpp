// Shared by cli/article.cpp and cli/interactive.cpp (see cli/platform.h).
#include "cli/platform.h"

#include <optional>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/value.h"

namespace webook::cli {

namespace {

// --dsn, or --source/--target, excluding each other; only the help differs.
void add_where_options(CLI::App* cmd, PlatformTarget& t, const std::string& dsn_help, const std::string& source_help,
                       const std::string& target_help) {
    auto* dsn = cmd->add_option("--dsn", t.dsn, dsn_help);
    auto* source = cmd->add_option("--source", t.source, source_help);
    auto* target = cmd->add_option("--target", t.target, target_help);
    dsn->excludes(source);
    dsn->excludes(target);
}

}  // namespace

void add_ops_options(CLI::App* cmd, PlatformTarget& t) {
    add_where_options(cmd, t,
                      "the webook database, mysql://user@host:port/db or postgres://user@host:port/db "
                      "(default: WEBOOKCTL_SOURCE_DSN or [source] dsn)",
                      "during a migration: the source DSN (env: WEBOOKCTL_SOURCE_DSN; config: [source] dsn); with a "
                      "target the job writes through the double-write connection in the current mode and reads the "
                      "authoritative side",
                      "during a migration: the target DSN (env: WEBOOKCTL_TARGET_DSN)");
}

void add_platform_options(CLI::App* cmd, PlatformTarget& t) {
    add_where_options(cmd, t,
                      "one plain database, mysql://user@host:port/db or postgres://user@host:port/db "
                      "(password: WEBOOKCTL_SOURCE_PASSWORD or WEBOOKCTL_PASSWORD)",
                      "source DSN (env: WEBOOKCTL_SOURCE_DSN; config: [source] dsn); with a target, writes go through "
                      "the double-write connection in the current migration mode",
                      "target DSN (env: WEBOOKCTL_TARGET_DSN; config: [target] dsn)");
}

namespace {

// Where the platform's operations run (platform.h); `sides` is set when a
// migration is configured.
ConnectionFactory plain_or_sides(const Context& ctx, const PlatformTarget& t, std::optional<DoubleWriteSides>& sides) {
    if (!t.dsn.empty()) {
        const Dsn dsn = resolve_dsn(ctx, Side::source, t.dsn, "--dsn");
        return [dsn] { return connect(dsn); };
    }
    const bool have_source = !t.source.empty() || !ctx.config.source.empty();
    const bool have_target = !t.target.empty() || !ctx.config.target.empty();
    if (!have_source)
        throw Error(Code::usage,
                    "no database: pass --dsn, or --source and --target (or set WEBOOKCTL_SOURCE_DSN "
                    "and WEBOOKCTL_TARGET_DSN) to write through the migration");
    const Dsn source = side_dsn(ctx, t.source, false);
    if (!have_target) return [source] { return connect(source); };
    // A migration is configured: the mode in the control table decides which
    // side reads and which sides write.
    const Dsn target = side_dsn(ctx, t.target, true);
    const ControlFactories control = control_factories(ctx, source, target);
    sides.emplace();
    sides->source = [source] { return connect(source); };
    sides->source_engine = source.engine;
    sides->target = [target] { return connect(target); };
    sides->target_engine = target.engine;
    sides->control = control.control;
    sides->control_target = control.target;
    return {};
}

}  // namespace

ConnectionFactory platform_factory(const Context& ctx, const PlatformTarget& t, DoubleWriteCounters& counters) {
    std::optional<DoubleWriteSides> sides;
    if (ConnectionFactory plain = plain_or_sides(ctx, t, sides)) return plain;
    return [sides = *sides, &counters] { return make_double_write(sides, counters); };
}

std::unique_ptr<OpsDatabase> ops_database(const Context& ctx, const PlatformTarget& t) {
    auto out = std::make_unique<OpsDatabase>();
    // --dsn, or no target anywhere: the one database, as ever.
    if (!t.dsn.empty() || (t.target.empty() && ctx.config.target.empty())) {
        const Dsn dsn = t.dsn.empty() ? resolve_dsn(ctx, Side::source, t.source, "--dsn or --source")
                                      : resolve_dsn(ctx, Side::source, t.dsn, "--dsn");
        out->write = [dsn] { return connect(dsn); };
        out->read = out->write;
        return out;
    }
    std::optional<DoubleWriteSides> sides;
    plain_or_sides(ctx, t, sides);
    out->double_write = true;
    out->read = authoritative_side(*sides);
    out->write = [sides = *sides, counters = &out->counters] { return make_double_write(sides, *counters); };
    return out;
}

std::unique_ptr<PlatformConnection> open_platform(const Context& ctx, const PlatformTarget& t) {
    auto out = std::make_unique<PlatformConnection>();
    out->conn = platform_factory(ctx, t, out->counters)();
    return out;
}

}  // namespace webook::cli
