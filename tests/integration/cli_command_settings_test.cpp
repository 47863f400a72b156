// [commands.<command>] in the config file: settings a command takes when
// their flags are not given. Flags win over the file; a typo, an unknown
// command, an action's flag or a value the flag would refuse is one error line
// (exit 2, naming the file's line) before anything runs.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "core/db/db.h"
#include "tests/support/child_process.h"
#include "tests/support/cli_run.h"
#include "tests/support/migration_data.h"

namespace webook {
namespace {

using testing::CommandResult;
using testing::describe;
using testing::expect_one_error;
using testing::MigrationDatabases;
using testing::ScratchDir;
using testing::webookctl;
using Args = std::vector<std::string>;

class CliCommandSettings : public ::testing::Test {
protected:
    CliCommandSettings() : m_dbs(testing::engine_pairs()[2], "clisettings"), m_dir("clisettings") {
        auto source = m_dbs.source.connect();
        auto target = m_dbs.target.connect();
        testing::create_types_table(*source, "typed");
        testing::create_types_table(*target, "typed");
        testing::insert_types_rows(*source, "typed", 40);
    }

    std::string config(const std::string& body) {
        const std::string path = m_dir.file("webookctl.toml");
        testing::write_file(path, "[source]\ndsn = \"" + m_dbs.source.url() + "\"\n[target]\ndsn = \"" +
                                      m_dbs.target.url() + "\"\n" + body);
        return path;
    }

    MigrationDatabases m_dbs;
    ScratchDir m_dir;
};

TEST_F(CliCommandSettings, ACommandTakesItsSettingsFromTheFileAndItsFlagsWin) {
    const std::string from_file = m_dir.file("file.prom"), from_flag = m_dir.file("flag.prom");
    const std::string events = m_dir.file("events.jsonl");
    const std::string cfg = config(
        "[commands.migrate.copy]\nbatch-size = 7\nwriters = 1\n"
        "[commands.validate]\nmetrics-file = \"" +
        from_file + "\"\nsink = \"file://" + events + "\"\nchunk-rows = 16\n");
    CommandResult copied = webookctl({"--config", cfg, "--output", "json", "migrate", "copy", "--table", "typed"});
    ASSERT_EQ(copied.exit_code, 0) << describe(copied);

    testing::plant_type_differences(*m_dbs.target.connect(), "typed");
    CommandResult found = webookctl({"--config", cfg, "validate", "--full", "--table", "typed", "--base", "src"});
    ASSERT_EQ(found.exit_code, 1) << describe(found);
    EXPECT_NE(testing::read_file(from_file).find("webookctl_validate_inconsistencies"), std::string::npos)
        << "the file's --metrics-file";
    EXPECT_NE(testing::read_file(events).find("\"neq\""), std::string::npos) << "the file's --sink";
    EXPECT_EQ(found.out.find("\"neq\""), std::string::npos) << "not the default sink (stdout)";

    // The flag wins over the file.
    std::remove(from_file.c_str());
    CommandResult again = webookctl({"--config", cfg, "validate", "--full", "--table", "typed", "--base", "src",
                                     "--metrics-file", from_flag, "--sink", "-"});
    ASSERT_EQ(again.exit_code, 1) << describe(again);
    EXPECT_NE(testing::read_file(from_flag).find("webookctl_validate_inconsistencies"), std::string::npos);
    EXPECT_EQ(testing::read_file(from_file), "") << "the file's value is not used when the flag is given";
    EXPECT_NE(again.out.find("\"neq\""), std::string::npos) << "events to stdout, as the flag said";
}

TEST_F(CliCommandSettings, ATypoAnActionsFlagOrABadValueIsOneLineWithItsLineNumber) {
    const Args validate = {"validate", "--full", "--table", "typed", "--base", "src"};
    auto run = [&](const std::string& body, const Args& args) {
        Args a = {"--config", config(body)};
        a.insert(a.end(), args.begin(), args.end());
        return webookctl(a);
    };
    // Checked whole, whichever command runs.
    expect_one_error(run("[commands.validate]\nmetrics-fiel = \"/tmp/x\"\n", {"db", "counts"}), 2,
                     "line 6: [commands.validate] metrics-fiel: not a setting");
    expect_one_error(run("[commands.migrate.copy]\ntruncate = true\n", validate), 2,
                     "[commands.migrate copy] truncate: not a setting the config file may give");
    expect_one_error(run("[commands.fix]\nsource = \"mysql://u@h/db\"\n", validate), 2, "source: not a setting");
    expect_one_error(run("[commands.valdate]\nsink = \"-\"\n", validate), 2, "there is no command 'webookctl valdate'");
    expect_one_error(run("[commands.validate]\nwriters = 2\n", validate), 2,
                     "'webookctl validate' has no option --writers");
    expect_one_error(run("[commands.validate]\nretry-for = 30\n", validate), 2,
                     "[commands.validate] retry-for:");  // a duration needs its unit, as the flag does
    expect_one_error(run("[commands.validate]\nsink = { a = 1 }\n", validate), 2,
                     "there is no command 'webookctl validate sink'");
    auto target = m_dbs.target.connect();
    EXPECT_EQ(testing::row_count(*target, "typed"), 0) << "nothing ran";
}

}  // namespace
}  // namespace webook
