// [commands.<command>] in the config file: the values a command's settings
// take when their flags are not given (flags > environment > file > the
// library's defaults). Checked whole before anything runs -- an unknown
// command or option, or one that is not a setting, is a config error with its
// line, whichever command runs -- then the running command's are applied.
#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/cli.h"
#include "core/base/error.h"

namespace webook::cli {
namespace {

// Options that say how a command works, not what it does: throttles, sinks,
// metrics, batch sizes, waits, retry budgets, Kafka groups and sources. Never
// an action's flag (--truncate, --resume, --fix, --force, --dry-run), a
// side's DSN (those are [source]/[target]) or a global option.
const std::set<std::string, std::less<>>& settings() {
    static const std::set<std::string, std::less<>> names = {
        "backoff",      "batch-size",      "batch-wait",      "brokers",      "checksum",  "chunk-rows",
        "dead-letter",  "event-values",    "flush-timeout",   "from",         "gravity",   "group",
        "idle-wait",    "interval",        "keep-indexes",    "lease",        "lock-wait", "max-age",
        "max-attempts", "max-backoff",     "max-load",        "metrics-file", "owner",     "recheck-after",
        "retry-for",    "rows-per-second", "session-timeout", "sink",         "split",     "to",
        "top",          "window",          "writers",
    };
    return names;
}

[[noreturn]] void refuse(const Config& config, const std::string& command, const std::string& name,
                         const Config::CommandSetting& s, const std::string& why) {
    throw Error(Code::config, fmt::format("config file {}: line {}: [commands.{}] {}: {}", config.config_path, s.line,
                                          command, name, why));
}

// The subcommand a [commands.*] path names, or null.
CLI::App* command_at(CLI::App& app, const std::string& path) {
    CLI::App* at = &app;
    std::size_t start = 0;
    while (start <= path.size()) {
        const auto space = path.find(' ', start);
        const std::string name = path.substr(start, space == std::string::npos ? std::string::npos : space - start);
        CLI::App* next = nullptr;
        for (CLI::App* sub : at->get_subcommands({})) {
            if (sub->get_name() == name) next = sub;
        }
        if (next == nullptr) return nullptr;
        at = next;
        if (space == std::string::npos) break;
        start = space + 1;
    }
    return at;
}

// The command chosen on the command line, as a [commands.*] path.
std::string chosen_command(CLI::App& app) {
    std::string path;
    for (CLI::App* at = &app;;) {
        const auto chosen = at->get_subcommands();
        if (chosen.empty()) return path;
        at = chosen.front();
        path += (path.empty() ? "" : " ") + at->get_name();
    }
}

}  // namespace

void apply_command_settings(CLI::App& app, const Config& config) {
    for (const auto& [command, values] : config.commands) {
        CLI::App* cmd = command_at(app, command);
        for (const auto& [name, s] : values) {
            if (cmd == nullptr)
                refuse(config, command, name, s, fmt::format("there is no command 'webookctl {}'", command));
            if (!settings().contains(name))
                refuse(config, command, name, s,
                       "not a setting the config file may give (flags of actions, DSNs and global options are not)");
            if (cmd->get_option_no_throw("--" + name) == nullptr)
                refuse(config, command, name, s, fmt::format("'webookctl {}' has no option --{}", command, name));
        }
    }
    const std::string chosen = chosen_command(app);
    auto it = config.commands.find(chosen);
    if (it == config.commands.end()) return;
    CLI::App* cmd = command_at(app, chosen);
    for (const auto& [name, s] : it->second) {
        CLI::Option* option = cmd->get_option("--" + name);
        if (option->count() > 0) continue;  // the flag wins
        try {
            for (const auto& v : s.values) option->add_result(v);
            option->run_callback();
        } catch (const CLI::Error& e) {
            refuse(config, chosen, name, s, e.what());
        }
    }
}

}  // namespace webook::cli
