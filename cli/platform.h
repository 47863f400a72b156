// What the platform command groups (article, interactive) share: where
// their operations run, and how times are shown.
//
// --dsn runs against one plain database. Otherwise, with a source and a
// target configured (--source/--target, WEBOOKCTL_*_DSN or the config file),
// the operations run through the double-write connection in the migration
// mode the control table holds (control database: [control] dsn, else the
// source) -- the platform code cannot tell the difference. With only a
// source, they run on the source.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "cli/cli.h"
#include "core/db/db.h"
#include "migrate/double_write.h"

namespace webook::cli {

struct PlatformTarget {
    std::string dsn;     // --dsn: one plain database
    std::string source;  // --source: default: WEBOOKCTL_SOURCE_DSN / [source] dsn
    std::string target;  // --target: default: WEBOOKCTL_TARGET_DSN / [target] dsn
};

void add_platform_options(CLI::App* cmd, PlatformTarget& target);

// A connection and what it needs alive while it is used.
struct PlatformConnection {
    DoubleWriteCounters counters;      // when double-writing
    std::unique_ptr<Connection> conn;  // declared after counters: destroyed first
};

// Opens connections to wherever the options point; double-write connections
// share `counters`, which must outlive them. Throws Error(Code::usage) when
// no database is given or configured.
ConnectionFactory platform_factory(const Context& ctx, const PlatformTarget& target, DoubleWriteCounters& counters);
// Throws Error(Code::usage) when no database is given or configured.
std::unique_ptr<PlatformConnection> open_platform(const Context& ctx, const PlatformTarget& target);

// The database of an ops job (relay, payments consumer, ranking,
// reconciliation): `write` where it writes -- the double-write connection
// in the current mode when a source and a target are configured, else the
// one database -- and `read` where it reads in bulk: the authoritative side
// (core/.. migrate/double_write.h authoritative_side()), or the one database.
struct OpsDatabase {
    DoubleWriteCounters counters;  // when double-writing
    ConnectionFactory write;
    ConnectionFactory read;
    bool double_write = false;
};
// --dsn as ever (the one database; default: the source from env/config);
// with a target (--target or configured) the migration's double-write.
// Throws Error(Code::usage) when no database is given or configured.
std::unique_ptr<OpsDatabase> ops_database(const Context& ctx, const PlatformTarget& target);
// --dsn, --source, --target of the ops jobs that write.
void add_ops_options(CLI::App* cmd, PlatformTarget& target);

}  // namespace webook::cli
