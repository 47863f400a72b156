// Shared by the command-group files of the webookctl binary.
//
// Each cli/<group>.cpp registers its subcommands on the app: it binds options
// to a struct, and sets Context::run to a function that calls one library
// function and renders the result (cli/render.h). main.cpp parses, resolves the
// configuration (flags > environment > file > defaults), runs, and maps
// errors to exit codes in one place.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "core/base/duration.h"
#include "core/base/error.h"
#include "core/db/dsn.h"
#include "core/migration/config.h"
#include "core/migration/migration_mode.h"
#include "core/migration/throttle.h"

namespace webook::cli {

struct GlobalOptions {
    std::string config_path;  // --config
    std::string log_level;    // --log-level (overrides env and file)
    std::string log_format;   // --log-format
    std::string output;       // --output
};

struct Context {
    GlobalOptions globals;
    Config config;  // resolved before run() is called
    // The chosen subcommand's action; returns the exit status.
    std::function<int(Context&)> run;

    bool json() const { return config.output == OutputFormat::json; }
};

void register_db(CLI::App& app, Context& ctx);
void register_migrate(CLI::App& app, Context& ctx);
void register_validate(CLI::App& app, Context& ctx);
void register_fix(CLI::App& app, Context& ctx);
// The `ops` group (cli/ops.cpp): created once, each job family adds its
// subcommands to it.
void register_ops(CLI::App& app, Context& ctx);
void register_article(CLI::App& app, Context& ctx);
void register_interactive(CLI::App& app, Context& ctx);
void register_reward(CLI::App& app, Context& ctx);
void register_simulate(CLI::App& app, Context& ctx);
// `completion bash|zsh` (cli/completion.cpp): a completion script made from
// `app`'s command tree; registered last, so it sees every other command.
void register_completion(CLI::App& app, Context& ctx);
// ops outbox relay, ops payments consume, ops ledger check (cli/ops_payments.cpp);
// called by register_ops().
void register_ops_payments(CLI::App* ops, Context& ctx);
// ops reconcile (cli/ops_reconcile.cpp); called by register_ops().
void register_ops_reconcile(CLI::App* ops, Context& ctx);

// --dsn of the read-only ops commands (rank show, jobs, ledger check).
void add_ops_dsn_option(CLI::App* cmd, std::string& dsn);

// A duration flag bound straight into a std::chrono field of the library's
// options: parsed with parse_duration (core/base/duration.h: a unit is
// required), and the field's current value -- the library's default -- shown
// in --help as "(default: 30s)". A value the field cannot hold exactly ("1.5s"
// for whole seconds) is refused. Errors are usage errors naming the flag.
template <typename Rep, typename Period>
CLI::Option* add_duration_option(CLI::App* cmd, const std::string& name, std::chrono::duration<Rep, Period>& field,
                                 const std::string& help) {
    using Field = std::chrono::duration<Rep, Period>;
    const std::string flag = name.substr(0, name.find(','));
    auto* option = cmd->add_option_function<std::string>(
        name,
        [&field, flag](const std::string& text) {
            try {
                const std::chrono::microseconds d = parse_duration(text, flag);
                const Field value = std::chrono::duration_cast<Field>(d);
                if (std::chrono::duration_cast<std::chrono::microseconds>(value) != d)
                    throw CLI::ValidationError(
                        flag + " '" + text + "' must be a multiple of " +
                        format_duration(std::chrono::duration_cast<std::chrono::microseconds>(Field(1))));
                field = value;
            } catch (const Error& e) {
                throw CLI::ValidationError(e.what());
            }
        },
        help + " (default: " + format_duration(std::chrono::duration_cast<std::chrono::microseconds>(field)) + ")");
    option->type_name("DURATION");
    return option;
}

// --metrics-file PATH: Prometheus text for node_exporter's textfile
// collector; `when` says when the command writes it.
void add_metrics_option(CLI::App* cmd, std::string& path, const std::string& when);

// --source/--target/--table, shared by migrate, validate and fix.
struct SideOptions {
    std::string source;
    std::string target;
    std::vector<std::string> tables;
};
void add_side_options(CLI::App* cmd, SideOptions& options);
void add_throttle_options(CLI::App* cmd, ThrottleOptions& throttle, std::string& shard);

// The one DSN resolver. A database is one of the configured sides; a flag
// given for it (--source, --target, or --dsn: "this one database instead")
// replaces the configured DSN, else WEBOOKCTL_<SIDE>_DSN, else the config
// file's [<side>] dsn. Its password is that side's (WEBOOKCTL_<SIDE>_PASSWORD,
// [<side>] password_file, WEBOOKCTL_PASSWORD; see dsn.h). Throws
// Error(Code::usage) "no source database: pass --dsn or set
// WEBOOKCTL_SOURCE_DSN or [source] dsn" naming `flag_name` when there is none.
enum class Side { source, target };
Dsn resolve_dsn(const Context& ctx, Side side, const std::string& flag, std::string_view flag_name);
inline Dsn side_dsn(const Context& ctx, const std::string& flag, bool target) {
    return target ? resolve_dsn(ctx, Side::target, flag, "--target") : resolve_dsn(ctx, Side::source, flag, "--source");
}
// Where the control table lives: [control] dsn, else the source.
Dsn control_dsn(const Context& ctx, const Dsn& source);
// Whether the mode row moves to the target from dst_first on: unless a
// separate [control] dsn holds it (core/migration/migration_mode.h).
bool control_moves(const Context& ctx);
// The target DSN if one is given (--target flag, env or config), else nullopt.
std::optional<Dsn> optional_target_dsn(const Context& ctx, const std::string& flag);
// The fence's factories: the control database, and the target's control
// table when the row moves there (and `target` is known).
ControlFactories control_factories(const Context& ctx, const Dsn& source, const std::optional<Dsn>& target);
// The tables named by --table (with their config entries when present), else
// every configured table. Throws Error(Code::usage) when there are none.
std::vector<TableConfig> selected_tables(const Context& ctx, const std::vector<std::string>& names);

// Makes `run(ctx, *args)` the action of `cmd`, when it is the command chosen:
// how every subcommand binds its options struct to its function.
template <typename Args, typename Run>
void bind_action(CLI::App* cmd, Context& ctx, std::shared_ptr<Args> args, Run run) {
    cmd->callback([&ctx, args, run] { ctx.run = [args, run](Context& c) { return run(c, *args); }; });
}

// [commands.*] of the config file (cli/command_settings.cpp): checks every
// entry against the command tree, then gives the chosen command's options
// that were not on the command line their configured values. Throws
// Error(Code::config) naming the file, line and entry.
void apply_command_settings(CLI::App& app, const Config& config);

// Adds a usage example to a subcommand's help text.
void example(CLI::App* cmd, const std::string& text);

}  // namespace webook::cli
