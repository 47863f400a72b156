// The tool's configuration: a TOML file, environment variables and flags.
//
// Precedence, written down once (resolve_config() and the CLI's apply step):
//   flags  >  environment (WEBOOKCTL_*)  >  config file (--config / WEBOOKCTL_CONFIG)  >  defaults
//
// File layout (every key optional unless a command needs it):
//   [source]   dsn = "mysql://webook@127.0.0.1:13306/webook"   password_file = "..."
//   [target]   dsn = "postgres://webook@127.0.0.1:15432/webook" password_file = "..."
//   [control]  dsn = "..."   # where the migration control table lives (default: source)
//   [log]      level = "info"  format = "text"
//   [output]   format = "text"
//   [[tables]] name = "interactives"  key = ["id"]  update_column = "utime"
//              ignore_columns = ["read_cnt"]  column_map = { old_name = "new_name" }
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/switches.h"
#include "core/db/dsn.h"

namespace webook {

struct DatabaseConfig {
    std::string dsn;            // required where the command needs this side
    std::string password_file;  // default: none (passwords come from WEBOOKCTL_*_PASSWORD)

    bool empty() const { return dsn.empty(); }
};

struct TableConfig {
    std::string name;                               // required
    std::vector<std::string> key;                   // default: the table's primary key
    std::string update_column;                      // default: "utime" when the table has it
    std::vector<std::string> ignore_columns;        // default: none
    std::map<std::string, std::string> column_map;  // source name -> target name; default: none
    // source column -> the target type `migrate schema` gives it instead of
    // the mapped one, e.g. {"flag": "boolean"}; default: none
    std::map<std::string, std::string> types;

    // Throws Error(Code::config) naming the bad identifier.
    void validate() const;
};

enum class OutputFormat { text, json };

struct Config {
    DatabaseConfig source;
    DatabaseConfig target;
    DatabaseConfig control;                    // default: the source
    std::vector<TableConfig> tables;           // default: none (commands take --table)
    std::string log_level = "info";            // default: info
    std::string log_format = "text";           // default: text
    OutputFormat output = OutputFormat::text;  // default: text
    // [kafka]: librdkafka properties for every Kafka client, as written
    // (NAME_file entries too); see set_kafka_client_properties() in
    // core/messaging/kafka.h. Default: none.
    std::map<std::string, std::string> kafka;
    // [commands.<command path>]: option values a command takes when its
    // flag is not given, e.g. [commands.migrate.copy] batch-size = 5000 ->
    // {"migrate copy": {"batch-size": {"5000"}}}; an array gives a repeated
    // option. Which options may be set so is the CLI's to check (only
    // settings, never an action's flag); the values are parsed as the flags'.
    struct CommandSetting {
        std::vector<std::string> values;
        int line = 0;  // where it was written, for errors
    };
    std::map<std::string, std::map<std::string, CommandSetting>> commands;
    std::string config_path;  // the file read, if any

    // Throws Error(Code::config) with the first problem found.
    void validate() const;

    const TableConfig* find_table(const std::string& name) const;
};

// Reads a TOML file. Throws Error(Code::config) "config file PATH: line L:
// ..." for unreadable files, syntax errors, unknown keys and wrong types.
Config load_config_file(const std::string& path);

// Overrides `config` with WEBOOKCTL_SOURCE_DSN, WEBOOKCTL_TARGET_DSN,
// WEBOOKCTL_CONTROL_DSN, WEBOOKCTL_LOG_LEVEL, WEBOOKCTL_LOG_FORMAT,
// WEBOOKCTL_OUTPUT where set. `getenv` is injectable for tests.
using Getenv = const char* (*)(const char*);
void apply_environment(Config& config, Getenv getenv_fn);

// File (path given, or WEBOOKCTL_CONFIG, or none) then environment.
Config resolve_config(const std::string& path_flag, Getenv getenv_fn);

OutputFormat parse_output_format(std::string_view name);

// Parses the DSN of one side and resolves its password (see dsn.h).
// Throws Error(Code::config) "no <role> database: set --<role> or [<role>] dsn"
// when the side is not configured.
Dsn database_dsn(const DatabaseConfig& db, DsnRole role, std::string_view what);

}  // namespace webook
