// The webookctl binary's conventions, run as a user runs it: help and
// version; db init/seed/counts against scratch databases on both servers;
// results on stdout (pure JSON with --output json), diagnostics on stderr
// (JSON objects with --log-format json); every error one line starting
// "webookctl: error:", with the documented exit code, naming what failed and
// where, and never a password; a password inside a DSN works but is warned
// about; SIGTERM stops a long seed at a safe point with exit 130.
//
// The binary inherits the environment (the passwords services.env exports);
// tests that need another environment run it through /usr/bin/env.
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/db/db.h"
#include "core/db/dsn.h"
#include "platform/schema.h"
#include "tests/support/child_process.h"
#include "tests/support/scratch_db.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using nlohmann::json;
using testing::ChildProcess;
using testing::CommandResult;
using testing::ScratchDatabase;
using testing::ScratchDir;

using namespace std::chrono_literals;

// Never printed, whatever happens.
constexpr const char* k_distinct_password = "Wbk-Distinct-Pw-4711";
constexpr const char* k_inline_password = "Inline-Secret-9911";

// Environment changes for one run: "NAME=value" sets, "-NAME" unsets.
using Env = std::vector<std::string>;

CommandResult webookctl(const std::vector<std::string>& args, const Env& env = {},
                        std::chrono::milliseconds timeout = 3min) {
    std::vector<std::string> argv = {"/usr/bin/env"};
    for (const auto& e : env) {
        if (!e.empty() && e[0] == '-') {
            argv.push_back("-u");
            argv.push_back(e.substr(1));
        } else {
            argv.push_back(e);
        }
    }
    argv.push_back(WEBOOKCTL_BINARY);
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_command(argv, timeout);
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

std::string describe(const CommandResult& r) {
    return "exit " + std::to_string(r.exit_code) + "\n--- stdout:\n" + r.out + "\n--- stderr:\n" + r.err;
}

// The password the servers really use, from services.env.
std::string real_password() {
    return testing::require_env("WEBOOKCTL_SOURCE_PASSWORD");
}

void expect_no_password(const CommandResult& r) {
    for (const std::string& secret :
         {std::string(k_distinct_password), std::string(k_inline_password), real_password()}) {
        EXPECT_FALSE(contains(r.out, secret)) << "a password on stdout\n" << describe(r);
        EXPECT_FALSE(contains(r.err, secret)) << "a password on stderr\n" << describe(r);
    }
}

enum class OtherLines { none, warnings };

// One error line "webookctl: error: ..." with `exit_code`, mentioning each of
// `mentions`, nothing on stdout, no password, no connector internals. With
// OtherLines::warnings, log lines before it are allowed (the DSN password
// warning).
void expect_error(const CommandResult& r, int exit_code, const std::vector<std::string>& mentions,
                  OtherLines other = OtherLines::none) {
    SCOPED_TRACE(describe(r));
    EXPECT_EQ(r.exit_code, exit_code);
    EXPECT_EQ(r.out, "") << "an error writes nothing to stdout";
    const auto lines = lines_of(r.err);
    std::vector<std::string> errors;
    for (const auto& l : lines)
        if (l.starts_with("webookctl: error: ")) errors.push_back(l);
    ASSERT_EQ(errors.size(), 1u) << "exactly one error line";
    if (other == OtherLines::none) {
        EXPECT_EQ(lines.size(), 1u) << "stderr is the one error line";
    }
    EXPECT_EQ(lines.back(), errors[0]) << "the error line comes last";
    EXPECT_TRUE(r.err.ends_with("\n"));
    for (const auto& m : mentions) EXPECT_TRUE(contains(errors[0], m)) << "the error should mention '" << m << "'";
    for (const char* internal : {"sql::", "SQLException", "MySQL_", "pqxx", "libpq", "what()", "SQLSTATE", "errno",
                                 "ERROR:", "terminate called"})
        EXPECT_FALSE(contains(r.err, internal)) << "connector internals: " << internal;
    expect_no_password(r);
}

json parse_json(const std::string& text) {
    try {
        return json::parse(text);
    } catch (const json::exception& e) {
        ADD_FAILURE() << "not JSON (" << e.what() << "):\n" << text;
        return json();
    }
}

const char* engine_label(Engine e) {
    return e == Engine::mysql ? "MariaDB" : "PostgreSQL";
}

// A DSN for the server of `engine` (as services.env names it) with another
// database, port or an inline password.
std::string server_url(Engine engine, const std::string& db, const std::string& inline_password = {}, int port = 0) {
    const Dsn base = engine == Engine::mysql ? testing::mysql_dsn() : testing::pg_dsn();
    const std::string user = base.user + (inline_password.empty() ? "" : ":" + inline_password);
    return std::string(engine == Engine::mysql ? "mysql" : "postgres") + "://" + user + "@" + base.host + ":" +
           std::to_string(port == 0 ? base.port : port) + "/" + db;
}

// -- Help and version -------------------------------------------------------

TEST(CliFoundation, HelpListsTheCommandGroupsAndAnExample) {
    CommandResult r = webookctl({"--help"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(contains(r.out, "Usage: webookctl")) << r.out;
    for (const char* group : {"db", "migrate", "validate", "fix"}) {
        bool listed = false;
        for (const auto& line : lines_of(r.out))
            if (line.starts_with(std::string("  ") + group + " ")) listed = true;
        EXPECT_TRUE(listed) << "group '" << group << "' not listed:\n" << r.out;
    }
    for (const char* flag : {"--config", "--log-level", "--log-format", "--output", "--version"})
        EXPECT_TRUE(contains(r.out, flag)) << flag;
    EXPECT_TRUE(contains(r.out, "Example:\n  webookctl ")) << r.out;
    EXPECT_TRUE(contains(r.out, "Exit codes")) << r.out;

    // Every db command has its own example.
    for (const char* cmd : {"init", "seed", "counts"}) {
        CommandResult sub = webookctl({"db", cmd, "--help"});
        EXPECT_EQ(sub.exit_code, 0) << describe(sub);
        EXPECT_TRUE(contains(sub.out, std::string("Example:\n  webookctl db ") + cmd)) << sub.out;
    }
}

TEST(CliFoundation, VersionPrintsTheVersion) {
    CommandResult r = webookctl({"--version"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_TRUE(r.out.starts_with("webookctl ")) << r.out;
    EXPECT_GT(r.out.size(), std::string("webookctl \n").size()) << r.out;
    EXPECT_EQ(r.err, "");
}

TEST(CliFoundation, NoCommandIsAUsageError) {
    CommandResult r = webookctl({});
    expect_error(r, 2, {"--help"});
}

// -- db init / seed / counts --------------------------------------------------

void expect_init_twice_succeeds(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "cliinit");
    CommandResult first = webookctl({"--output", "json", "db", "init", "--dsn", db.url()});
    ASSERT_EQ(first.exit_code, 0) << describe(first);
    json a = parse_json(first.out);
    EXPECT_EQ(a["created"].size(), webook_tables().size()) << first.out;
    EXPECT_EQ(a["existing"].size(), 0u) << first.out;
    EXPECT_EQ(a["dsn"], db.url());

    CommandResult second = webookctl({"--output", "json", "db", "init", "--dsn", db.url()});
    ASSERT_EQ(second.exit_code, 0) << describe(second);
    json b = parse_json(second.out);
    EXPECT_EQ(b["created"].size(), 0u) << second.out;
    EXPECT_EQ(b["existing"].size(), webook_tables().size()) << second.out;

    // And the text form says so too.
    CommandResult third = webookctl({"db", "init", "--dsn", db.url()});
    ASSERT_EQ(third.exit_code, 0) << describe(third);
    EXPECT_TRUE(contains(third.out, "0 tables created")) << third.out;
    expect_no_password(first);
    expect_no_password(third);
}

TEST(CliFoundation, DbInitTwiceSucceedsOnMariaDb) {
    expect_init_twice_succeeds(Engine::mysql);
}

TEST(CliFoundation, DbInitTwiceSucceedsOnPostgres) {
    expect_init_twice_succeeds(Engine::postgres);
}

void expect_seed_then_counts(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "cliseed");
    ASSERT_EQ(webookctl({"db", "init", "--dsn", db.url()}).exit_code, 0);
    CommandResult seed =
        webookctl({"--output", "json", "db", "seed", "--dsn", db.url(), "--users", "60", "--articles", "300", "--likes",
                   "900", "--collects", "200", "--rewards", "50", "--base-time", "2026-11-01 00:00:00"});
    ASSERT_EQ(seed.exit_code, 0) << describe(seed);
    json seeded = parse_json(seed.out);
    // The seed's progress is logged on stderr, not mixed into the result.
    EXPECT_TRUE(contains(seed.err, "users: 60 rows")) << seed.err;

    CommandResult counts = webookctl({"--output", "json", "--log-level", "debug", "db", "counts", "--dsn", db.url()});
    ASSERT_EQ(counts.exit_code, 0) << describe(counts);
    json c = parse_json(counts.out);  // the whole of stdout is one JSON document
    ASSERT_TRUE(c.is_object()) << counts.out;
    EXPECT_EQ(c["dsn"], db.url());
    const json& tables = c["tables"];
    ASSERT_EQ(tables.size(), webook_tables().size()) << counts.out;
    EXPECT_EQ(tables["users"], 60);
    EXPECT_EQ(tables["articles"], 300);
    EXPECT_EQ(tables["interactives"], 300);
    EXPECT_EQ(tables["user_like_bizs"], 900);
    EXPECT_EQ(tables["user_collection_bizs"], 200);
    EXPECT_EQ(tables["rewards"], 50);
    EXPECT_EQ(tables["payments"], 50);
    EXPECT_EQ(tables["jobs"], 0);
    for (const auto& [table, rows] : seeded["inserted"].items())
        EXPECT_EQ(tables[table], rows) << table << ": seed said " << rows << ", counts say " << tables[table];
    EXPECT_GE(seeded["inserted"].size(), 11u) << seed.out;
    expect_no_password(seed);
    expect_no_password(counts);

    // The text form: the DSN, then one line per table.
    CommandResult text = webookctl({"db", "counts", "--dsn", db.url()});
    ASSERT_EQ(text.exit_code, 0) << describe(text);
    const auto lines = lines_of(text.out);
    ASSERT_EQ(lines.size(), webook_tables().size() + 1) << text.out;
    EXPECT_EQ(lines[0], db.url());
    EXPECT_TRUE(lines[1].starts_with("users ") && lines[1].ends_with(" 60")) << lines[1];
}

TEST(CliFoundation, SeedThenCountsAsJsonOnMariaDb) {
    expect_seed_then_counts(Engine::mysql);
}

TEST(CliFoundation, SeedThenCountsAsJsonOnPostgres) {
    expect_seed_then_counts(Engine::postgres);
}

TEST(CliFoundation, ConfigFileProvidesTheDatabaseAndTheOutputFormat) {
    ScratchDatabase db(Engine::postgres, "cliconf");
    ScratchDir dir("cliconf");
    const std::string path = dir.file("webookctl.toml");
    testing::write_file(path, "[source]\ndsn = \"" + db.url() + "\"\n\n[output]\nformat = \"json\"\n");
    CommandResult init = webookctl({"--config", path, "db", "init"});
    ASSERT_EQ(init.exit_code, 0) << describe(init);
    EXPECT_EQ(parse_json(init.out)["created"].size(), webook_tables().size());
    // The flag wins over the file.
    CommandResult text = webookctl({"--config", path, "--output", "text", "db", "counts"});
    ASSERT_EQ(text.exit_code, 0) << describe(text);
    EXPECT_TRUE(text.out.starts_with(db.url() + "\n")) << text.out;

    // The password from the file named by password_file, when no variable sets one.
    const std::string password_path = dir.file("source.password");
    testing::write_file(password_path, real_password() + "\n");
    const std::string with_file = dir.file("with_file.toml");
    testing::write_file(with_file, "[source]\ndsn = \"" + db.url() + "\"\npassword_file = \"" + password_path + "\"\n");
    const Env no_password_env = {"-WEBOOKCTL_SOURCE_PASSWORD", "-WEBOOKCTL_TARGET_PASSWORD", "-WEBOOKCTL_PASSWORD"};
    CommandResult from_file = webookctl({"--config", with_file, "db", "counts"}, no_password_env);
    EXPECT_EQ(from_file.exit_code, 0) << describe(from_file);
    expect_no_password(from_file);
    // --dsn means the same in every command: this database instead of the
    // configured source, with the source's password.
    for (const std::vector<std::string>& command : {std::vector<std::string>{"db", "counts"},
                                                    {"article", "list", "--author", "7"},
                                                    {"ops", "jobs", "list"},
                                                    {"ops", "ledger", "check"}}) {
        std::vector<std::string> args{"--config", with_file};
        args.insert(args.end(), command.begin(), command.end());
        args.insert(args.end(), {"--dsn", db.url()});
        CommandResult r = webookctl(args, no_password_env);
        EXPECT_EQ(r.exit_code, 0) << command[0] << " " << command[1] << ": " << describe(r);
    }
    // An unreadable password_file is a configuration error naming the file.
    testing::write_file(
        with_file, "[source]\ndsn = \"" + db.url() + "\"\npassword_file = \"" + dir.file("missing.password") + "\"\n");
    expect_error(webookctl({"--config", with_file, "db", "counts"}, no_password_env), 2,
                 {dir.file("missing.password")});
}

// -- Logging ---------------------------------------------------------------------

TEST(CliFoundation, JsonLogFormatWritesOneJsonObjectPerStderrLine) {
    ScratchDatabase db(Engine::mysql, "clilog");
    ASSERT_EQ(webookctl({"db", "init", "--dsn", db.url()}).exit_code, 0);
    CommandResult r = webookctl({"--log-format", "json", "--output", "json", "db", "seed", "--dsn", db.url(), "--users",
                                 "20", "--articles", "50", "--likes", "100", "--collects", "20", "--rewards", "10"});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    parse_json(r.out);
    const auto lines = lines_of(r.err);
    ASSERT_GE(lines.size(), 11u) << "one log line per seeded table expected:\n" << r.err;
    bool users_line = false;
    for (const auto& line : lines) {
        json j = parse_json(line);
        ASSERT_TRUE(j.is_object()) << line;
        EXPECT_TRUE(j.contains("level")) << line;
        EXPECT_TRUE(j.contains("msg")) << line;
        EXPECT_TRUE(j.contains("time")) << line;
        if (j.value("msg", "").starts_with("users: 20 rows")) users_line = true;
    }
    EXPECT_TRUE(users_line) << r.err;

    // The environment variable does the same.
    CommandResult env = webookctl({"db", "seed", "--truncate", "--dsn", db.url(), "--users", "5", "--articles", "5",
                                   "--likes", "5", "--collects", "5", "--rewards", "5"},
                                  {"WEBOOKCTL_LOG_FORMAT=json"});
    ASSERT_EQ(env.exit_code, 0) << describe(env);
    for (const auto& line : lines_of(env.err)) EXPECT_TRUE(parse_json(line).is_object()) << line;
}

TEST(CliFoundation, PasswordInsideTheDsnWorksButIsWarnedAboutWithoutShowingIt) {
    ScratchDatabase db(Engine::postgres, "cliinline");
    const std::string url = server_url(Engine::postgres, db.name(), real_password());
    // Only the DSN carries the password.
    const Env no_password_env = {"-WEBOOKCTL_SOURCE_PASSWORD", "-WEBOOKCTL_TARGET_PASSWORD", "-WEBOOKCTL_PASSWORD"};
    CommandResult r = webookctl({"--output", "json", "db", "init", "--dsn", url}, no_password_env);
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(parse_json(r.out)["dsn"], db.url()) << "the DSN is shown without its password";
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_TRUE(contains(lines[0], "warn")) << lines[0];
    EXPECT_TRUE(contains(lines[0], "password")) << lines[0];
    EXPECT_TRUE(contains(lines[0], db.url())) << lines[0];
    expect_no_password(r);

    // As a JSON log line too.
    CommandResult j = webookctl({"--log-format", "json", "db", "counts", "--dsn", url}, no_password_env);
    ASSERT_EQ(j.exit_code, 0) << describe(j);
    const auto jlines = lines_of(j.err);
    ASSERT_EQ(jlines.size(), 1u) << j.err;
    json warning = parse_json(jlines[0]);
    EXPECT_TRUE(contains(warning.value("level", ""), "warn")) << jlines[0];
    expect_no_password(j);
}

// -- Errors --------------------------------------------------------------------

const Env k_distinct_env = {std::string("WEBOOKCTL_SOURCE_PASSWORD=") + k_distinct_password,
                            std::string("WEBOOKCTL_TARGET_PASSWORD=") + k_distinct_password,
                            std::string("WEBOOKCTL_PASSWORD=") + k_distinct_password};

TEST(CliFoundation, MalformedDsnIsAUsageErrorNamingTheDsn) {
    expect_error(webookctl({"db", "counts", "--dsn", "nope://webook@127.0.0.1:13306/webook"}, k_distinct_env), 2,
                 {"DSN", "nope://", "mysql://"});
    expect_error(webookctl({"db", "counts", "--dsn", "mysql://webook@127.0.0.1:port/webook"}, k_distinct_env), 2,
                 {"DSN", "port"});
    // Malformed, with a password inside: the password is not repeated.
    expect_error(webookctl({"db", "counts", "--dsn",
                            std::string("mysql://webook:") + k_inline_password + "@127.0.0.1:notaport/webook"}),
                 2, {"DSN", "notaport"}, OtherLines::warnings);
}

TEST(CliFoundation, MalformedConfigFileIsAUsageErrorNamingFileAndLine) {
    ScratchDir dir("cliconfig");
    const std::string bad_toml = dir.file("bad.toml");
    testing::write_file(bad_toml,
                        "[source]\ndsn = \"mysql://webook@127.0.0.1:13306/webook\"\n\n[log]\nlevel = \"info\n");
    expect_error(webookctl({"--config", bad_toml, "db", "counts"}, k_distinct_env), 2, {bad_toml, "line 5"});

    const std::string unknown_key = dir.file("unknown.toml");
    testing::write_file(unknown_key, std::string("[source]\ndsn = \"mysql://webook:") + k_inline_password +
                                         "@127.0.0.1:13306/webook\"\npasword_file = \"/etc/pw\"\n");
    expect_error(webookctl({"--config", unknown_key, "db", "counts"}, k_distinct_env), 2,
                 {unknown_key, "line 3", "pasword_file"});

    const std::string unknown_section = dir.file("section.toml");
    testing::write_file(unknown_section, "# comment\n[sauce]\ndsn = \"x\"\n");
    expect_error(webookctl({"--config", unknown_section, "db", "counts"}, k_distinct_env), 2,
                 {unknown_section, "line 2", "sauce"});

    // Through WEBOOKCTL_CONFIG as well.
    Env env = k_distinct_env;
    env.push_back("WEBOOKCTL_CONFIG=" + unknown_key);
    expect_error(webookctl({"db", "counts"}, env), 2, {unknown_key, "line 3"});

    expect_error(webookctl({"--config", dir.file("missing.toml"), "db", "counts"}), 2, {dir.file("missing.toml")});
}

TEST(CliFoundation, UnknownFlagIsAUsageError) {
    expect_error(webookctl({"db", "counts", "--bogus-flag"}), 2, {"--bogus-flag"});
    expect_error(webookctl({"--log-level", "loud", "db", "counts"}), 2, {"loud"});
    expect_error(webookctl({"--output", "yaml", "db", "counts"}), 2, {"yaml"});
    expect_error(webookctl({"db", "frobnicate"}), 2, {"frobnicate"});
    expect_error(webookctl({"frobnicate"}), 2, {"frobnicate"});
    // --help after a mistyped command does not print the group's help with exit 0.
    expect_error(webookctl({"migrate", "frobnicate", "--help"}), 2, {"unknown command 'frobnicate'"});
    expect_error(webookctl({"ops", "rank", "frobnicate", "-h"}), 2, {"unknown command 'frobnicate'"});
    expect_error(webookctl({"db", "seed", "--users", "many"}), 2, {"many"});
    expect_error(webookctl({"validate", "--table", "t"}), 2, {"choose --full or --incremental"});
}

// Every duration flag takes the same text (core/base/duration.h), refuses the
// same mistakes before anything connects, and shows its library default.
TEST(CliFoundation, DurationFlagsAllReadTheSameWayAndShowTheirDefault) {
    const std::string nowhere = "mysql://webook@127.0.0.1:1/webook";
    expect_error(webookctl({"ops", "rank", "recompute", "--dsn", nowhere, "--lease", "60"}), 2,
                 {"--lease '60' needs a unit, e.g. 500ms, 30s, 5m, 36h or 7d"});
    expect_error(webookctl({"ops", "rank", "recompute", "--dsn", nowhere, "--window", "7"}), 2,
                 {"--window '7' needs a unit"});
    expect_error(webookctl({"migrate", "mode", "set", "src_first", "--source", nowhere, "--max-age", "1.5s"}), 2,
                 {"--max-age '1.5s' must be a multiple of 1s"});
    expect_error(webookctl({"fix", "--from", "-", "--lock-wait", "soon"}), 2, {"--lock-wait 'soon' is not a duration"});
    const CommandResult help = webookctl({"migrate", "mode", "set", "--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.out.find("(default: 30s)"), std::string::npos) << help.out;  // --lock-wait
    EXPECT_NE(help.out.find("(default: 10m)"), std::string::npos) << help.out;  // --max-age
    EXPECT_NE(help.out.find("DURATION"), std::string::npos) << help.out;
    const CommandResult rank = webookctl({"ops", "rank", "recompute", "--help"});
    EXPECT_NE(rank.out.find("(default: 7d)"), std::string::npos) << rank.out;
}

TEST(CliFoundation, RefusedConnectionIsAConnectionErrorNamingHostAndPort) {
    for (Engine engine : {Engine::mysql, Engine::postgres}) {
        SCOPED_TRACE(engine_label(engine));
        const std::string url = server_url(engine, "webook", {}, 1);
        const std::string address = Dsn::parse(url).address();  // host:1
        expect_error(webookctl({"db", "counts", "--dsn", url}, k_distinct_env), 3, {address, "refused"});
        // With the password inside the DSN: warned, refused, never shown.
        const std::string inline_url = server_url(engine, "webook", k_inline_password, 1);
        expect_error(webookctl({"db", "counts", "--dsn", inline_url}), 3, {address, "refused"}, OtherLines::warnings);
    }
}

TEST(CliFoundation, WrongPasswordIsAConnectionErrorWithoutThePassword) {
    for (Engine engine : {Engine::mysql, Engine::postgres}) {
        SCOPED_TRACE(engine_label(engine));
        const std::string url = server_url(engine, "webook");
        const Dsn dsn = Dsn::parse(url);
        CommandResult r = webookctl({"db", "counts", "--dsn", url}, k_distinct_env);
        expect_error(r, 3, {dsn.address(), "webook"});
        EXPECT_TRUE(contains(r.err, "password") || contains(r.err, "denied")) << r.err;
        // The same through an inline password.
        CommandResult inline_r = webookctl({"db", "counts", "--dsn", server_url(engine, "webook", k_inline_password)});
        expect_error(inline_r, 3, {dsn.address()}, OtherLines::warnings);
    }
}

TEST(CliFoundation, UnknownDatabaseIsAConnectionErrorNamingIt) {
    for (Engine engine : {Engine::mysql, Engine::postgres}) {
        SCOPED_TRACE(engine_label(engine));
        const std::string name = testing::unique_name("no_such_db");
        const std::string url = server_url(engine, name);
        expect_error(webookctl({"db", "counts", "--dsn", url}), 3, {name, Dsn::parse(url).address()});
    }
}

TEST(CliFoundation, CountsWithoutTheSchemaNamesTheTableNotConnectorInternals) {
    for (Engine engine : {Engine::mysql, Engine::postgres}) {
        SCOPED_TRACE(engine_label(engine));
        ScratchDatabase db(engine, "clinoschema");
        expect_error(webookctl({"db", "counts", "--dsn", db.url()}), 2, {"'users'", db.url(), "db init"});
        expect_error(webookctl({"db", "seed", "--dsn", db.url()}), 2, {"'users'", db.url(), "db init"});
    }
}

TEST(CliFoundation, SeedingANonEmptyDatabaseIsRefusedUnlessTruncate) {
    ScratchDatabase db(Engine::mysql, "clireseed");
    const std::vector<std::string> small = {"--users", "10",         "--articles", "20",        "--likes",
                                            "30",      "--collects", "10",         "--rewards", "5"};
    auto seed = [&](std::vector<std::string> extra) {
        std::vector<std::string> args = {"db", "seed", "--dsn", db.url()};
        args.insert(args.end(), small.begin(), small.end());
        args.insert(args.end(), extra.begin(), extra.end());
        return webookctl(args);
    };
    ASSERT_EQ(webookctl({"db", "init", "--dsn", db.url()}).exit_code, 0);
    ASSERT_EQ(seed({}).exit_code, 0);
    expect_error(seed({}), 2, {"not empty", "--truncate"});
    CommandResult again = seed({"--truncate"});
    EXPECT_EQ(again.exit_code, 0) << describe(again);
}

// -- Interrupts -------------------------------------------------------------------

void expect_sigterm_stops_seed(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "clisigterm");
    ASSERT_EQ(webookctl({"db", "init", "--dsn", db.url()}).exit_code, 0);
    // Far more than the test waits for: it is stopped long before the end.
    ChildProcess child({WEBOOKCTL_BINARY, "db", "seed", "--dsn", db.url(), "--users", "20000", "--articles", "300000",
                        "--interactives", "5000000", "--likes", "2000000"});
    // Once users are logged, the handlers are installed and articles are loading.
    const auto give_up = std::chrono::steady_clock::now() + 2min;
    while (!contains(child.err(), "users: 20000 rows") && child.running() && std::chrono::steady_clock::now() < give_up)
        std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(child.running()) << "seed ended before it was signalled:\n" << child.err();
    ASSERT_TRUE(contains(child.err(), "users: 20000 rows")) << child.err();
    ASSERT_EQ(::kill(child.pid(), SIGTERM), 0);
    CommandResult r = child.wait(2min);

    EXPECT_EQ(r.exit_code, 130) << describe(r);
    EXPECT_EQ(r.out, "") << "no result for an interrupted seed";
    EXPECT_TRUE(contains(r.err, "webookctl: error: ")) << r.err;
    EXPECT_TRUE(contains(r.err, "SIGTERM")) << r.err;
    EXPECT_TRUE(contains(r.err, "stopped")) << r.err;
    expect_no_password(r);

    // Stopped at a safe point: finished tables are kept, the table being
    // loaded is rolled back whole, nothing after it was started.
    auto conn = db.connect();
    EXPECT_EQ(conn->query_one("SELECT COUNT(*) FROM users")->at(0).as_int(), 20000);
    const std::int64_t articles = conn->query_one("SELECT COUNT(*) FROM articles")->at(0).as_int();
    EXPECT_TRUE(articles == 0 || articles == 300000) << articles << " articles: a partial table";
    EXPECT_EQ(conn->query_one("SELECT COUNT(*) FROM interactives")->at(0).as_int(), 0);
}

TEST(CliFoundation, SigtermStopsALongSeedWithExit130OnMariaDb) {
    expect_sigterm_stops_seed(Engine::mysql);
}

TEST(CliFoundation, SigtermStopsALongSeedWithExit130OnPostgres) {
    expect_sigterm_stops_seed(Engine::postgres);
}

}  // namespace
}  // namespace webook
