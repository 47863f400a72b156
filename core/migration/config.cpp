#include "core/migration/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/dialect.h"
#include "core/messaging/kafka.h"

namespace webook {
namespace {

[[noreturn]] void fail_at(const std::string& path, const toml::source_region& where, std::string_view what) {
    if (where.begin.line > 0)
        throw Error(Code::config, fmt::format("config file {}: line {}: {}", path, where.begin.line, what));
    throw Error(Code::config, fmt::format("config file {}: {}", path, what));
}

std::string string_at(const std::string& path, const toml::node& node, std::string_view key) {
    if (auto s = node.value<std::string>()) return *s;
    fail_at(path, node.source(), fmt::format("'{}' must be a string", key));
}

std::vector<std::string> strings_at(const std::string& path, const toml::node& node, std::string_view key) {
    std::vector<std::string> out;
    if (auto s = node.value<std::string>()) {  // key = "id" is accepted for key = ["id"]
        out.push_back(*s);
        return out;
    }
    const toml::array* arr = node.as_array();
    if (arr == nullptr) fail_at(path, node.source(), fmt::format("'{}' must be a list of strings", key));
    for (const auto& item : *arr) out.push_back(string_at(path, item, key));
    return out;
}

DatabaseConfig read_database(const std::string& path, const toml::node& node, std::string_view section) {
    const toml::table* t = node.as_table();
    if (t == nullptr) fail_at(path, node.source(), fmt::format("[{}] must be a table", section));
    DatabaseConfig db;
    for (const auto& [k, v] : *t) {
        if (k == "dsn")
            db.dsn = string_at(path, v, "dsn");
        else if (k == "password_file")
            db.password_file = string_at(path, v, "password_file");
        else if (k == "password")
            fail_at(path, v.source(),
                    fmt::format("[{}] password is not read from the config file: use password_file "
                                "or WEBOOKCTL_{}_PASSWORD",
                                section, section == "target" ? "TARGET" : "SOURCE"));
        else
            fail_at(path, v.source(), fmt::format("unknown key '{}' in [{}]", k.str(), section));
    }
    return db;
}

TableConfig read_table(const std::string& path, const toml::node& node) {
    const toml::table* t = node.as_table();
    if (t == nullptr) fail_at(path, node.source(), "[[tables]] entries must be tables");
    TableConfig table;
    for (const auto& [k, v] : *t) {
        if (k == "name")
            table.name = string_at(path, v, "name");
        else if (k == "key")
            table.key = strings_at(path, v, "key");
        else if (k == "update_column")
            table.update_column = string_at(path, v, "update_column");
        else if (k == "ignore_columns")
            table.ignore_columns = strings_at(path, v, "ignore_columns");
        else if (k == "column_map") {
            const toml::table* m = v.as_table();
            if (m == nullptr) fail_at(path, v.source(), "'column_map' must be a table of names");
            for (const auto& [from, to] : *m)
                table.column_map[std::string(from.str())] = string_at(path, to, from.str());
        } else if (k == "types") {
            const toml::table* m = v.as_table();
            if (m == nullptr) fail_at(path, v.source(), "'types' must be a table of column = \"type\"");
            for (const auto& [column, type] : *m)
                table.types[std::string(column.str())] = string_at(path, type, column.str());
        } else {
            fail_at(path, v.source(), fmt::format("unknown key '{}' in [[tables]]", k.str()));
        }
    }
    if (table.name.empty()) fail_at(path, node.source(), "[[tables]] entry without a name");
    try {
        table.validate();
    } catch (const Error& e) {
        fail_at(path, node.source(), e.what());
    }
    return table;
}

void check_identifier(std::string_view what, const std::string& name) {
    if (!valid_identifier(name))
        throw Error(Code::config,
                    fmt::format("invalid {} '{}': a name must be 1 to 63 bytes of UTF-8 without control characters",
                                what, name.substr(0, 80)));
}

}  // namespace

void TableConfig::validate() const {
    check_identifier("table name", name);
    for (const auto& k : key) check_identifier(fmt::format("key column of {}", name), k);
    if (!update_column.empty()) check_identifier(fmt::format("update column of {}", name), update_column);
    for (const auto& c : ignore_columns) check_identifier(fmt::format("ignored column of {}", name), c);
    for (const auto& [from, to] : column_map) {
        check_identifier(fmt::format("mapped column of {}", name), from);
        check_identifier(fmt::format("mapped column of {}", name), to);
    }
    // A type is written into DDL as it is: letters, digits, spaces and
    // ( ) , . [ ] only, so it cannot end the statement or open a string.
    for (const auto& [column, type] : types) {
        check_identifier(fmt::format("typed column of {}", name), column);
        const bool plain = !type.empty() && type.size() <= 100 && std::all_of(type.begin(), type.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) ||
                   std::string_view(" _(),.[]").find(c) != std::string_view::npos;
        });
        if (!plain)
            throw Error(Code::config,
                        fmt::format("invalid type '{}' for column {} of {}: use a type name, e.g. \"boolean\" or "
                                    "\"numeric(20,0)\"",
                                    type.substr(0, 80), column, name));
    }
}

void Config::validate() const {
    for (const auto* db : {&source, &target, &control})
        if (!db->dsn.empty()) Dsn::parse(db->dsn);
    for (std::size_t i = 0; i < tables.size(); ++i) {
        tables[i].validate();
        for (std::size_t j = 0; j < i; ++j)
            if (tables[j].name == tables[i].name)
                throw Error(Code::config, fmt::format("table '{}' is configured twice", tables[i].name));
    }
    log::parse_level(log_level);
    log::parse_format(log_format);
}

namespace {

// [kafka]: librdkafka's dotted names, quoted ("security.protocol" = ...) or
// as TOML reads them unquoted (security.protocol = ... is a table
// `security` holding `protocol`): flattened back to one name.
void read_kafka(const std::string& path, const toml::table& t, const std::string& prefix,
                std::map<std::string, std::string>& out) {
    for (const auto& [kk, kv] : t) {
        const std::string name = prefix + std::string(kk.str());
        if (const toml::table* inner = kv.as_table()) {
            read_kafka(path, *inner, name + ".", out);
            continue;
        }
        if (auto problem = kafka_property_problem(name); !problem.empty()) fail_at(path, kv.source(), problem);
        if (auto s = kv.value<std::string>())
            out[name] = *s;
        else if (kv.is_integer())
            out[name] = std::to_string(*kv.value<std::int64_t>());
        else if (auto b = kv.value<bool>())
            out[name] = *b ? "true" : "false";
        else
            fail_at(path, kv.source(), fmt::format("[kafka] {} must be a string, an integer or a boolean", name));
    }
}

// One node of [commands]: a table is a (sub)command, anything else an
// option's value (an array: the option repeated).
void read_commands(const std::string& path, const toml::table& t, const std::string& command,
                   std::map<std::string, std::map<std::string, Config::CommandSetting>>& out) {
    for (const auto& [kk, kv] : t) {
        const std::string name(kk.str());
        if (const toml::table* inner = kv.as_table()) {
            read_commands(path, *inner, command.empty() ? name : command + " " + name, out);
            continue;
        }
        if (command.empty())
            fail_at(path, kv.source(),
                    fmt::format("[commands] {} must be inside a command's table, e.g. [commands.validate]", name));
        auto text = [&](const toml::node& n) -> std::string {
            if (auto s = n.value<std::string>()) return *s;
            if (n.is_integer()) return std::to_string(*n.value<std::int64_t>());
            if (n.is_floating_point()) return fmt::format("{}", *n.value<double>());
            if (auto b = n.value<bool>()) return *b ? "true" : "false";
            fail_at(path, n.source(),
                    fmt::format("[commands.{}] {} must be a string, a number, a boolean or an array of them", command,
                                name));
        };
        Config::CommandSetting setting;
        setting.line = static_cast<int>(kv.source().begin.line);
        if (const toml::array* arr = kv.as_array())
            for (const auto& item : *arr) setting.values.push_back(text(item));
        else
            setting.values.push_back(text(kv));
        out[command][name] = std::move(setting);
    }
}

}  // namespace

const TableConfig* Config::find_table(const std::string& name) const {
    for (const auto& t : tables)
        if (t.name == name) return &t;
    return nullptr;
}

Config load_config_file(const std::string& path) {
    toml::table root;
    try {
        root = toml::parse_file(path);
    } catch (const toml::parse_error& e) {
        const auto& where = e.source();
        if (where.begin.line == 0)  // toml++ reports unreadable files this way
            throw Error(Code::config, fmt::format("cannot read config file {}: {}", path, e.description()));
        fail_at(path, where, e.description());
    }
    Config config;
    config.config_path = path;
    for (const auto& [k, v] : root) {
        if (k == "source")
            config.source = read_database(path, v, "source");
        else if (k == "target")
            config.target = read_database(path, v, "target");
        else if (k == "control")
            config.control = read_database(path, v, "control");
        else if (k == "tables") {
            const toml::array* arr = v.as_array();
            if (arr == nullptr) fail_at(path, v.source(), "'tables' must be an array of tables ([[tables]])");
            for (const auto& t : *arr) config.tables.push_back(read_table(path, t));
        } else if (k == "log") {
            const toml::table* t = v.as_table();
            if (t == nullptr) fail_at(path, v.source(), "[log] must be a table");
            for (const auto& [lk, lv] : *t) {
                if (lk == "level")
                    config.log_level = string_at(path, lv, "level");
                else if (lk == "format")
                    config.log_format = string_at(path, lv, "format");
                else
                    fail_at(path, lv.source(), fmt::format("unknown key '{}' in [log]", lk.str()));
            }
        } else if (k == "output") {
            const toml::table* t = v.as_table();
            if (t == nullptr) fail_at(path, v.source(), "[output] must be a table");
            for (const auto& [ok, ov] : *t) {
                if (ok == "format") {
                    const std::string format = string_at(path, ov, "format");
                    try {
                        config.output = parse_output_format(format);
                    } catch (const Error& e) {
                        fail_at(path, ov.source(), e.what());
                    }
                } else {
                    fail_at(path, ov.source(), fmt::format("unknown key '{}' in [output]", ok.str()));
                }
            }
        } else if (k == "commands") {
            const toml::table* t = v.as_table();
            if (t == nullptr) fail_at(path, v.source(), "[commands] must be a table");
            read_commands(path, *t, "", config.commands);
        } else if (k == "kafka") {
            const toml::table* t = v.as_table();
            if (t == nullptr) fail_at(path, v.source(), "[kafka] must be a table");
            read_kafka(path, *t, "", config.kafka);
        } else {
            fail_at(path, v.source(), fmt::format("unknown key '{}'", k.str()));
        }
    }
    try {
        config.validate();
    } catch (const Error& e) {
        throw Error(Code::config, fmt::format("config file {}: {}", path, e.what()));
    }
    return config;
}

void apply_environment(Config& config, Getenv getenv_fn) {
    auto env = [&](const char* name) -> const char* {
        const char* v = getenv_fn(name);
        return v != nullptr && *v != '\0' ? v : nullptr;
    };
    if (const char* v = env("WEBOOKCTL_SOURCE_DSN")) config.source.dsn = v;
    if (const char* v = env("WEBOOKCTL_TARGET_DSN")) config.target.dsn = v;
    if (const char* v = env("WEBOOKCTL_CONTROL_DSN")) config.control.dsn = v;
    if (const char* v = env("WEBOOKCTL_LOG_LEVEL")) config.log_level = v;
    if (const char* v = env("WEBOOKCTL_LOG_FORMAT")) config.log_format = v;
    if (const char* v = env("WEBOOKCTL_OUTPUT")) config.output = parse_output_format(v);
}

Config resolve_config(const std::string& path_flag, Getenv getenv_fn) {
    std::string path = path_flag;
    if (path.empty())
        if (const char* v = getenv_fn("WEBOOKCTL_CONFIG"); v != nullptr) path = v;
    Config config = path.empty() ? Config{} : load_config_file(path);
    apply_environment(config, getenv_fn);
    return config;
}

OutputFormat parse_output_format(std::string_view name) {
    if (name == "text") return OutputFormat::text;
    if (name == "json") return OutputFormat::json;
    throw Error(Code::usage, fmt::format("unknown output format '{}' (text, json)", name));
}

Dsn database_dsn(const DatabaseConfig& db, DsnRole role, std::string_view what) {
    if (db.dsn.empty())
        throw Error(Code::config,
                    fmt::format("no {} database: set --{} or [{}] dsn in the config file", what, what, what));
    Dsn dsn = Dsn::parse(db.dsn);
    resolve_password(dsn, role, db.password_file);
    return dsn;
}

}  // namespace webook
