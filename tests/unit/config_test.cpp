#include "core/migration/config.h"

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/error.h"

namespace webook {
namespace {

using std::chrono::milliseconds;

::testing::AssertionResult contains(std::string_view haystack, std::string_view needle) {
    if (haystack.find(needle) != std::string_view::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "'" << haystack << "' does not contain '" << needle << "'";
}

::testing::AssertionResult lacks(std::string_view haystack, std::string_view needle) {
    if (haystack.find(needle) == std::string_view::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "'" << haystack << "' contains '" << needle << "'";
}

// The environment apply_environment() and resolve_config() see in these tests.
std::map<std::string, std::string>& fake_env() {
    static std::map<std::string, std::string> env;
    return env;
}

const char* fake_getenv(const char* name) {
    auto it = fake_env().find(name);
    return it == fake_env().end() ? nullptr : it->second.c_str();
}

// Each test gets a directory of its own for its config files.
class ConfigFile : public ::testing::Test {
protected:
    void SetUp() override {
        fake_env().clear();
        m_dir =
            std::filesystem::temp_directory_path() / ("webook_config_test_" + std::to_string(::getpid()) + "_" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(m_dir);
    }
    void TearDown() override {
        fake_env().clear();
        std::filesystem::remove_all(m_dir);
    }

    std::string write(const std::string& body, const std::string& name = "webookctl.toml") {
        const auto path = m_dir / name;
        std::ofstream(path, std::ios::binary) << body;
        return path.string();
    }

    // The Error load_config_file throws for `body`; a test failure if none.
    Error load_error(const std::string& body) {
        const std::string path = write(body);
        try {
            load_config_file(path);
        } catch (const Error& e) {
            return e;
        }
        ADD_FAILURE() << "load_config_file accepted:\n" << body;
        return Error(Code::internal, "no error");
    }

    std::filesystem::path m_dir;
};

TEST_F(ConfigFile, ReadsEveryKey) {
    const std::string path = write(R"(
[source]
dsn = "mysql://webook@127.0.0.1:13306/webook"
password_file = "/run/secrets/source"

[target]
dsn = "postgres://webook@127.0.0.1:15432/webook"
password_file = "/run/secrets/target"

[control]
dsn = "mysql://ctl@127.0.0.1:13306/control"
password_file = "/run/secrets/control"

[log]
level = "debug"
format = "json"

[output]
format = "json"

[[tables]]
name = "interactives"
key = ["biz", "biz_id"]
update_column = "utime"
ignore_columns = ["read_cnt", "like_cnt"]
column_map = { old_name = "new_name", ctime = "created_at" }

[[tables]]
name = "users"
)");
    const Config c = load_config_file(path);
    EXPECT_EQ(c.config_path, path);
    EXPECT_EQ(c.source.dsn, "mysql://webook@127.0.0.1:13306/webook");
    EXPECT_EQ(c.source.password_file, "/run/secrets/source");
    EXPECT_EQ(c.target.dsn, "postgres://webook@127.0.0.1:15432/webook");
    EXPECT_EQ(c.target.password_file, "/run/secrets/target");
    EXPECT_EQ(c.control.dsn, "mysql://ctl@127.0.0.1:13306/control");
    EXPECT_EQ(c.control.password_file, "/run/secrets/control");
    EXPECT_EQ(c.log_level, "debug");
    EXPECT_EQ(c.log_format, "json");
    EXPECT_EQ(c.output, OutputFormat::json);
    ASSERT_EQ(c.tables.size(), 2u);

    const TableConfig& t = c.tables[0];
    EXPECT_EQ(t.name, "interactives");
    EXPECT_EQ(t.key, (std::vector<std::string>{"biz", "biz_id"}));
    EXPECT_EQ(t.update_column, "utime");
    EXPECT_EQ(t.ignore_columns, (std::vector<std::string>{"read_cnt", "like_cnt"}));
    EXPECT_EQ(t.column_map, (std::map<std::string, std::string>{{"old_name", "new_name"}, {"ctime", "created_at"}}));

    const TableConfig& u = c.tables[1];
    EXPECT_EQ(u.name, "users");
    EXPECT_TRUE(u.key.empty());
    EXPECT_TRUE(u.update_column.empty());
    EXPECT_TRUE(u.ignore_columns.empty());
    EXPECT_TRUE(u.column_map.empty());

    EXPECT_EQ(c.find_table("users"), &c.tables[1]);
    EXPECT_EQ(c.find_table("interactives"), &c.tables[0]);
    EXPECT_EQ(c.find_table("missing"), nullptr);
}

TEST_F(ConfigFile, AnEmptyFileGivesTheDefaults) {
    const Config c = load_config_file(write(""));
    EXPECT_TRUE(c.source.empty());
    EXPECT_TRUE(c.target.empty());
    EXPECT_TRUE(c.control.empty());
    EXPECT_TRUE(c.tables.empty());
    EXPECT_EQ(c.log_level, "info");
    EXPECT_EQ(c.log_format, "text");
    EXPECT_EQ(c.output, OutputFormat::text);
}

TEST_F(ConfigFile, AKeyGivenAsAStringIsAOneColumnKey) {
    const Config c = load_config_file(write("[[tables]]\nname = \"users\"\nkey = \"id\"\n"));
    ASSERT_EQ(c.tables.size(), 1u);
    EXPECT_EQ(c.tables[0].key, std::vector<std::string>{"id"});
}

TEST_F(ConfigFile, KafkaPropertiesAreReadQuotedOrDottedAndOthersAreRefused) {
    const Config c = load_config_file(write(R"(
[kafka]
"security.protocol" = "SASL_SSL"
sasl.mechanisms = "SCRAM-SHA-512"
sasl.username = "webookctl"
"sasl.password_file" = "/etc/webookctl/kafka.password"
ssl.ca.location = "/etc/ssl/kafka-ca.pem"
"client.id" = "ops"
"ssl.endpoint.identification.algorithm" = "https"
)"));
    EXPECT_EQ(c.kafka.at("security.protocol"), "SASL_SSL");
    EXPECT_EQ(c.kafka.at("sasl.mechanisms"), "SCRAM-SHA-512");
    EXPECT_EQ(c.kafka.at("sasl.password_file"), "/etc/webookctl/kafka.password");
    EXPECT_EQ(c.kafka.at("ssl.ca.location"), "/etc/ssl/kafka-ca.pem");
    EXPECT_EQ(c.kafka.at("client.id"), "ops");
    EXPECT_EQ(c.kafka.size(), 7u);

    Error e = load_error("[kafka]\n\"security.protocol\" = \"SSL\"\n\"socket.timeout.ms\" = 1000\n");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "line 3"));
    EXPECT_TRUE(contains(e.what(), "'socket.timeout.ms' is not a property [kafka] may set"));
    e = load_error("[kafka]\nbootstrap.servers = \"k:9092\"\n");
    EXPECT_TRUE(contains(e.what(), "the brokers are in each kafka:// URL"));
    e = load_error("[kafka]\n\"ssl.ca.location\" = [\"a\"]\n");
    EXPECT_TRUE(contains(e.what(), "must be a string, an integer or a boolean"));
}

TEST_F(ConfigFile, CommandSettingsAreReadPerCommandPathWithTheirLines) {
    const Config c = load_config_file(write(R"(
[commands.validate]
sink = "kafka://k:9092/t"
rows-per-second = 20000
checksum = true

[commands.migrate.copy]
batch-size = 5000
lock-wait = "1s"

[commands.ops.outbox.relay]
max-attempts = 3
)"));
    ASSERT_EQ(c.commands.size(), 3u);
    EXPECT_EQ(c.commands.at("validate").at("sink").values, std::vector<std::string>{"kafka://k:9092/t"});
    EXPECT_EQ(c.commands.at("validate").at("rows-per-second").values, std::vector<std::string>{"20000"});
    EXPECT_EQ(c.commands.at("validate").at("checksum").values, std::vector<std::string>{"true"});
    EXPECT_EQ(c.commands.at("validate").at("sink").line, 3);
    EXPECT_EQ(c.commands.at("migrate copy").at("batch-size").values, std::vector<std::string>{"5000"});
    EXPECT_EQ(c.commands.at("ops outbox relay").at("max-attempts").line, 12);

    const Error e = load_error("[commands]\nsink = \"-\"\n");
    EXPECT_TRUE(contains(e.what(), "must be inside a command's table"));
}

TEST_F(ConfigFile, UnknownTopLevelKeysAreRejectedWithTheirLine) {
    const Error e = load_error("[source]\ndsn = \"mysql://u@h/db\"\n\n[sauce]\ndsn = \"x\"\n");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "line 4"));
    EXPECT_TRUE(contains(e.what(), "sauce"));
}

TEST_F(ConfigFile, UnknownKeysInASectionAreRejectedWithTheirLine) {
    const Error e = load_error("[source]\ndsn = \"mysql://u@h/db\"\n\n[log]\nlevle = \"info\"\n");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "line 5"));
    EXPECT_TRUE(contains(e.what(), "levle"));
}

TEST_F(ConfigFile, UnknownKeysInATableEntryAreRejectedWithTheirLine) {
    const Error e = load_error("[[tables]]\nname = \"users\"\nkeys = [\"id\"]\n");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "line 3"));
    EXPECT_TRUE(contains(e.what(), "keys"));
}

TEST_F(ConfigFile, UnknownKeysInDatabaseAndOutputSectionsAreRejected) {
    EXPECT_TRUE(contains(load_error("[target]\nhost = \"db\"\n").what(), "line 2"));
    EXPECT_TRUE(contains(load_error("[output]\nstyle = \"json\"\n").what(), "style"));
}

TEST_F(ConfigFile, TheErrorMessageNamesTheFile) {
    const Error e = load_error("bogus = 1\n");
    EXPECT_TRUE(contains(e.what(), (m_dir / "webookctl.toml").string()));
}

TEST_F(ConfigFile, WrongTypesAreRejected) {
    for (const char* body : {
             "[source]\ndsn = 5\n",
             "[source]\npassword_file = [\"a\"]\n",
             "[log]\nlevel = true\n",
             "[output]\nformat = 1\n",
             "source = \"mysql://u@h/db\"\n",
             "log = \"info\"\n",
             "tables = \"users\"\n",
             "[[tables]]\nname = 7\n",
             "[[tables]]\nname = \"users\"\nkey = 5\n",
             "[[tables]]\nname = \"users\"\nkey = [1, 2]\n",
             "[[tables]]\nname = \"users\"\nupdate_column = [\"utime\"]\n",
             "[[tables]]\nname = \"users\"\nignore_columns = 3\n",
             "[[tables]]\nname = \"users\"\ncolumn_map = [\"a\"]\n",
             "[[tables]]\nname = \"users\"\ncolumn_map = { a = 1 }\n",
         }) {
        SCOPED_TRACE(body);
        const Error e = load_error(body);
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_TRUE(contains(e.what(), "line "));
    }
}

TEST_F(ConfigFile, ErrorsNameTheFileAndLineOnlyOnce) {
    // "config file PATH: line L: ..." as documented in config.h, not the
    // prefix repeated for errors found inside a section.
    for (const char* body :
         {"[output]\nformat = 1\n", "[output]\nformat = \"yaml\"\n", "[[tables]]\nname = \"bad\\tname\"\n"}) {
        SCOPED_TRACE(body);
        const std::string message = load_error(body).what();
        const auto first = message.find("config file");
        ASSERT_NE(first, std::string::npos) << message;
        EXPECT_EQ(message.find("config file", first + 1), std::string::npos) << message;
    }
}

TEST_F(ConfigFile, APasswordKeyIsRejectedWithAdviceAndIsNotEchoed) {
    const Error e = load_error("[source]\ndsn = \"mysql://u@h/db\"\npassword = \"Cfg_Pw_6612\"\n");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "line 3"));
    EXPECT_TRUE(contains(e.what(), "password_file"));
    EXPECT_TRUE(contains(e.what(), "WEBOOKCTL_SOURCE_PASSWORD"));
    EXPECT_TRUE(lacks(e.what(), "Cfg_Pw_6612"));
}

TEST_F(ConfigFile, APasswordKeyInTargetPointsToTheTargetVariable) {
    const Error e = load_error("[target]\npassword = \"Cfg_Pw_6613\"\n");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "WEBOOKCTL_TARGET_PASSWORD"));
    EXPECT_TRUE(lacks(e.what(), "Cfg_Pw_6613"));
}

TEST_F(ConfigFile, ATableConfiguredTwiceIsRejected) {
    const Error e = load_error(
        "[[tables]]\nname = \"users\"\n[[tables]]\nname = \"orders\"\n"
        "[[tables]]\nname = \"users\"\n");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "users"));
    EXPECT_TRUE(contains(e.what(), "twice"));
}

TEST_F(ConfigFile, ATableWithoutANameIsRejected) {
    const Error e = load_error("[[tables]]\nkey = [\"id\"]\n");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "name"));
}

TEST_F(ConfigFile, InvalidIdentifiersInTablesAreRejected) {
    for (const char* body : {
             // Names no server takes (empty, control characters, longer
             // than PostgreSQL keeps); any other is quoted, not refused.
             "[[tables]]\nname = \"users\\ndrop\"\n",
             "[[tables]]\nname = \"a\\u007fb\"\n",
             "[[tables]]\nname = \"users\"\nkey = [\"id\", \"x\\ty\"]\n",
             "[[tables]]\nname = \"users\"\nupdate_column = \"u\\rtime\"\n",
             "[[tables]]\nname = \"users\"\nignore_columns = [\"a\\u0000b\"]\n",
             "[[tables]]\nname = \"users\"\ncolumn_map = { old = "
             "\"0123456789012345678901234567890123456789012345678901234567890123\" }\n",
         }) {
        SCOPED_TRACE(body);
        const Error e = load_error(body);
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_TRUE(contains(e.what(), "invalid"));
        EXPECT_TRUE(contains(e.what(), "line 1"));
    }
}

TEST_F(ConfigFile, ABadDsnIsAConfigError) {
    const Error e = load_error("[source]\ndsn = \"mysql://u@h:99999/db\"\n");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "port"));
}

TEST_F(ConfigFile, AnUnknownLogLevelOrFormatIsAConfigError) {
    EXPECT_EQ(load_error("[log]\nlevel = \"loud\"\n").code(), Code::config);
    EXPECT_EQ(load_error("[log]\nformat = \"xml\"\n").code(), Code::config);
}

TEST_F(ConfigFile, AnUnknownOutputFormatIsAConfigErrorWithItsLine) {
    const Error e = load_error("\n[output]\nformat = \"yaml\"\n");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "line 3"));
}

TEST_F(ConfigFile, ATomlSyntaxErrorIsAConfigErrorWithItsLine) {
    const Error e = load_error("[source]\ndsn = \"unterminated\n");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "line 2"));
}

TEST_F(ConfigFile, AMissingFileIsAConfigError) {
    const std::string missing = (m_dir / "nope.toml").string();
    try {
        load_config_file(missing);
        FAIL() << "a missing file was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_TRUE(contains(e.what(), missing));
    }
}

TEST_F(ConfigFile, EnvironmentOverridesDsnsLogAndOutput) {
    Config c;
    c.source.dsn = "mysql://file@h/db";
    c.source.password_file = "/run/secrets/src";
    c.target.dsn = "postgres://file@h/db";
    fake_env() = {{"WEBOOKCTL_SOURCE_DSN", "mysql://env@h/db"},
                  {"WEBOOKCTL_TARGET_DSN", "postgres://env@h/db"},
                  {"WEBOOKCTL_CONTROL_DSN", "mysql://ctl@h/db"},
                  {"WEBOOKCTL_LOG_LEVEL", "warn"},
                  {"WEBOOKCTL_LOG_FORMAT", "json"},
                  {"WEBOOKCTL_OUTPUT", "json"}};
    apply_environment(c, fake_getenv);
    EXPECT_EQ(c.source.dsn, "mysql://env@h/db");
    EXPECT_EQ(c.source.password_file, "/run/secrets/src");
    EXPECT_EQ(c.target.dsn, "postgres://env@h/db");
    EXPECT_EQ(c.control.dsn, "mysql://ctl@h/db");
    EXPECT_EQ(c.log_level, "warn");
    EXPECT_EQ(c.log_format, "json");
    EXPECT_EQ(c.output, OutputFormat::json);
}

TEST_F(ConfigFile, UnsetAndEmptyVariablesLeaveTheConfigAlone) {
    Config c;
    c.source.dsn = "mysql://file@h/db";
    c.target.dsn = "postgres://file@h/db";
    c.log_level = "debug";
    fake_env() = {{"WEBOOKCTL_SOURCE_DSN", ""}, {"WEBOOKCTL_OUTPUT", ""}};
    apply_environment(c, fake_getenv);
    EXPECT_EQ(c.source.dsn, "mysql://file@h/db");
    EXPECT_EQ(c.target.dsn, "postgres://file@h/db");
    EXPECT_EQ(c.log_level, "debug");
    EXPECT_EQ(c.log_format, "text");
    EXPECT_EQ(c.output, OutputFormat::text);
}

TEST_F(ConfigFile, AnUnknownOutputInTheEnvironmentIsAUsageError) {
    Config c;
    fake_env() = {{"WEBOOKCTL_OUTPUT", "xml"}};
    try {
        apply_environment(c, fake_getenv);
        FAIL() << "WEBOOKCTL_OUTPUT=xml was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::usage);
    }
}

TEST_F(ConfigFile, ResolveReadsTheFileThenTheEnvironmentOnTop) {
    const std::string path = write(
        "[source]\ndsn = \"mysql://file@h/db\"\n[target]\n"
        "dsn = \"postgres://file@h/db\"\n[log]\nlevel = \"debug\"\n");
    fake_env() = {{"WEBOOKCTL_SOURCE_DSN", "mysql://env@h/db"}};
    const Config c = resolve_config(path, fake_getenv);
    EXPECT_EQ(c.config_path, path);
    EXPECT_EQ(c.source.dsn, "mysql://env@h/db");      // env beats file
    EXPECT_EQ(c.target.dsn, "postgres://file@h/db");  // file kept where env is silent
    EXPECT_EQ(c.log_level, "debug");
}

TEST_F(ConfigFile, ResolveFindsTheFileThroughWebookctlConfig) {
    const std::string path = write("[log]\nlevel = \"error\"\n");
    fake_env() = {{"WEBOOKCTL_CONFIG", path}};
    const Config c = resolve_config("", fake_getenv);
    EXPECT_EQ(c.config_path, path);
    EXPECT_EQ(c.log_level, "error");
}

TEST_F(ConfigFile, ResolvePrefersThePathFlagOverWebookctlConfig) {
    const std::string from_env = write("[log]\nlevel = \"error\"\n", "env.toml");
    const std::string from_flag = write("[log]\nlevel = \"trace\"\n", "flag.toml");
    fake_env() = {{"WEBOOKCTL_CONFIG", from_env}};
    const Config c = resolve_config(from_flag, fake_getenv);
    EXPECT_EQ(c.config_path, from_flag);
    EXPECT_EQ(c.log_level, "trace");
}

TEST_F(ConfigFile, ResolveWithoutAnyFileGivesDefaultsPlusEnvironment) {
    fake_env() = {{"WEBOOKCTL_TARGET_DSN", "postgres://env@h/db"}};
    const Config c = resolve_config("", fake_getenv);
    EXPECT_TRUE(c.config_path.empty());
    EXPECT_TRUE(c.source.empty());
    EXPECT_EQ(c.target.dsn, "postgres://env@h/db");
    EXPECT_EQ(c.log_level, "info");
}

TEST_F(ConfigFile, ResolveWithAMissingFileIsAConfigError) {
    try {
        resolve_config((m_dir / "nope.toml").string(), fake_getenv);
        FAIL() << "a missing --config file was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config);
    }
}

TEST(TableConfig, ValidateNamesTheBadIdentifier) {
    TableConfig t;
    t.name = "users";
    t.key = {"id"};
    EXPECT_NO_THROW(t.validate());
    t.ignore_columns = {"bad\tcolumn"};
    try {
        t.validate();
        FAIL() << "an invalid ignored column was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_TRUE(contains(e.what(), "bad\tcolumn"));
    }
}

TableConfig named_table(const std::string& name) {
    TableConfig t;
    t.name = name;
    return t;
}

TEST(Config, ValidateRejectsDuplicateTablesAndBadDsns) {
    Config c;
    c.tables.push_back(named_table("users"));
    EXPECT_NO_THROW(c.validate());
    c.tables.push_back(named_table("users"));
    EXPECT_THROW(c.validate(), Error);
    c.tables.pop_back();
    c.control.dsn = "nonsense";
    EXPECT_THROW(c.validate(), Error);
}

TEST(DatabaseDsn, AnUnconfiguredSideIsAConfigErrorNamingTheFlag) {
    try {
        database_dsn(DatabaseConfig{}, DsnRole::target, "target");
        FAIL() << "an empty DSN was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_TRUE(contains(e.what(), "--target"));
    }
}

TEST(DatabaseDsn, ParsesTheConfiguredDsn) {
    DatabaseConfig db;
    db.dsn = "postgres://u:DbDsnPw_301@h:6543/app";
    const Dsn d = database_dsn(db, DsnRole::target, "target");
    EXPECT_EQ(d.engine, Engine::postgres);
    EXPECT_EQ(d.port, 6543);
    EXPECT_EQ(d.password, "DbDsnPw_301");
}

TEST(ParseOutputFormat, KnowsTextAndJson) {
    EXPECT_EQ(parse_output_format("text"), OutputFormat::text);
    EXPECT_EQ(parse_output_format("json"), OutputFormat::json);
}

TEST(ParseOutputFormat, RejectsAnythingElseAsAUsageError) {
    for (const char* name : {"", "JSON", "yaml", "text "}) {
        SCOPED_TRACE(name);
        try {
            parse_output_format(name);
            ADD_FAILURE() << "'" << name << "' was accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Code::usage);
        }
    }
}

}  // namespace
}  // namespace webook
