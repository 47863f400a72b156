// webookctl: zero-downtime table migration and platform operations for webook.
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/cli.h"
#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/base/secrets.h"
#include "core/messaging/kafka.h"

namespace webook::cli {

void example(CLI::App* cmd, const std::string& text) {
    cmd->footer("Example:\n  " + text);
}

namespace {

// One line on stderr for the user, always redacted: scripts read the first
// line, so a message that spans lines (some of CLI11's) is joined.
void report(std::string_view what) {
    std::string line = redact(what);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    for (char& c : line)
        if (c == '\n' || c == '\r') c = ' ';
    std::fprintf(stderr, "webookctl: error: %s\n", line.c_str());
}

// Flags > environment > config file > defaults.
void resolve(Context& ctx) {
    ctx.config =
        resolve_config(ctx.globals.config_path, [](const char* name) -> const char* { return std::getenv(name); });
    if (!ctx.globals.log_level.empty()) ctx.config.log_level = ctx.globals.log_level;
    if (!ctx.globals.log_format.empty()) ctx.config.log_format = ctx.globals.log_format;
    if (!ctx.globals.output.empty()) ctx.config.output = parse_output_format(ctx.globals.output);
    log::setup(log::parse_level(ctx.config.log_level), log::parse_format(ctx.config.log_format));
    set_kafka_client_properties(ctx.config.kafka);
}

int run(int argc, char** argv) {
    Context ctx;
    CLI::App app{
        "webookctl: migrate webook's tables with zero downtime (copy, validate, fix,\n"
        "double-write, switch) and run the platform's operations and ops jobs."};
    app.name("webookctl");
    app.set_version_flag("--version", std::string("webookctl ") + WEBOOKCTL_VERSION);
    app.require_subcommand(1);
    app.fallthrough();
    app.add_option("--config", ctx.globals.config_path, "TOML config file (env: WEBOOKCTL_CONFIG)");
    app.add_option("--log-level", ctx.globals.log_level,
                   "trace|debug|info|warn|error|off (env: WEBOOKCTL_LOG_LEVEL; default: info)");
    app.add_option("--log-format", ctx.globals.log_format,
                   "text|json, diagnostics on stderr (env: WEBOOKCTL_LOG_FORMAT; default: text)");
    app.add_option("--output", ctx.globals.output,
                   "text|json, results on stdout (env: WEBOOKCTL_OUTPUT; default: text)");

    register_db(app, ctx);
    register_migrate(app, ctx);
    register_validate(app, ctx);
    register_fix(app, ctx);
    register_ops(app, ctx);
    register_article(app, ctx);
    register_interactive(app, ctx);
    register_reward(app, ctx);
    register_simulate(app, ctx);
    register_completion(app, ctx);
    // After the groups: CLI11 copies a parent's footer into each subcommand
    // added after it, and this example is webookctl's, not theirs.
    app.footer(
        "Exit codes: 0 ok, 1 findings, 2 usage or config error, 3 connection or server error,\n"
        "4 internal error, 130 interrupted. See README.md.\n\n"
        "Example:\n  webookctl db counts --dsn mysql://webook@127.0.0.1:13306/webook");

    // A word that is no command of the group it was typed in
    // ("webookctl migrate frobnicate"): CLI11 keeps it as an extra.
    auto unknown_command = [&]() -> std::string {
        const auto extra = app.remaining(true);
        return !extra.empty() && !extra.front().empty() && extra.front()[0] != '-' ? extra.front() : "";
    };
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        // --help after a mistyped command must not print the group's help
        // and exit 0, as if the command existed.
        if (const std::string word = unknown_command(); !word.empty()) {
            report("unknown command '" + word + "' (run 'webookctl --help' for usage)");
            return k_exit_usage;
        }
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::string message = e.what();
        // "webookctl db frobnicate": CLI11 only says a subcommand is required;
        // name what was typed instead.
        if (const auto extra = app.remaining(true); e.get_name() == "RequiredError" && !extra.empty())
            message = "unknown command '" + extra.front() + "': " + message;
        report(message + " (run 'webookctl --help' for usage)");
        return k_exit_usage;
    }

    try {
        resolve(ctx);
        apply_command_settings(app, ctx.config);
        install_interrupt_handlers();
        if (!ctx.run) throw Error(Code::internal, "no action for this command");
        int status = ctx.run(ctx);
        std::fflush(stdout);
        return status;
    } catch (const Error& e) {
        std::fflush(stdout);
        report(e.what());
        if (e.code() == Code::interrupted)
            std::fprintf(stderr, "webookctl: stopped at a safe point; progress up to here is saved\n");
        return exit_code_for(e.code());
    } catch (const std::exception& e) {
        std::fflush(stdout);
        report(std::string("internal error: ") + e.what());
        return k_exit_internal;
    }
}

}  // namespace
}  // namespace webook::cli

int main(int argc, char** argv) {
    return webook::cli::run(argc, argv);
}
