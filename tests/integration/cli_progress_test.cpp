// The progress line a person at a terminal sees, under a real pseudo-terminal
// (util-linux `script`): per table, rows of the servers' estimate with a
// percentage, rows/s and an ETA, redrawn in place and cleared before the
// result is printed -- and nothing of it when stderr is not a terminal.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "core/db/db.h"
#include "core/db/dialect.h"
#include "tests/support/child_process.h"
#include "tests/support/cli_run.h"
#include "tests/support/migration_data.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using testing::CommandResult;
using testing::describe;
using testing::MigrationDatabases;

// `args` run by webookctl on a pseudo-terminal: stdout and stderr both
// reach the terminal, so both end up in the result's out.
CommandResult on_a_terminal(const std::vector<std::string>& args) {
    std::string command = WEBOOKCTL_BINARY;
    for (const auto& a : args) command += " '" + a + "'";
    return testing::run_command({"/usr/bin/script", "-qfec", command, "/dev/null"}, std::chrono::minutes(3));
}

TEST(CliProgress, CopyAndValidateShowPercentAndEtaOnATerminalOnly) {
    MigrationDatabases dbs(testing::engine_pairs()[2], "cliprogress");  // MySQL -> PostgreSQL
    {
        auto source = dbs.source.connect();
        auto target = dbs.target.connect();
        source->execute("CREATE TABLE big (id bigint NOT NULL PRIMARY KEY, name varchar(40) NOT NULL)");
        target->execute("CREATE TABLE big (id bigint NOT NULL PRIMARY KEY, name varchar(40) NOT NULL)");
        source->execute("INSERT INTO big SELECT seq, CONCAT('row ', seq) FROM seq_1_to_600000");
        source->execute("ANALYZE TABLE big");  // the estimate the total comes from
    }
    const std::vector<std::string> sides = {"--source", dbs.source.url(), "--target", dbs.target.url()};
    // Throttled, so that each run lasts a few redraws on any machine.
    std::vector<std::string> copy = {"migrate",      "copy", "--table",           "big",
                                     "--batch-size", "5000", "--rows-per-second", "300000"};
    copy.insert(copy.end(), sides.begin(), sides.end());
    CommandResult copied = on_a_terminal(copy);
    ASSERT_EQ(copied.exit_code, 0) << describe(copied);
    EXPECT_NE(copied.out.find("\r\033[Kcopying big: "), std::string::npos) << describe(copied);
    EXPECT_NE(copied.out.find(" of ~"), std::string::npos) << describe(copied);
    EXPECT_NE(copied.out.find("%), "), std::string::npos) << describe(copied);
    EXPECT_NE(copied.out.find(", ETA "), std::string::npos) << describe(copied);
    // Cleared, then the result on a line of its own.
    const auto result = copied.out.find("600000 rows copied");
    ASSERT_NE(result, std::string::npos) << describe(copied);
    EXPECT_NE(copied.out.rfind("\r\033[K", result), std::string::npos);
    EXPECT_EQ(copied.out.find("copying big: ", result), std::string::npos) << "nothing redrawn after the result";

    dbs.target.connect()->execute("ANALYZE big");
    std::vector<std::string> validate = {"validate",     "--full", "--table",           "big",   "--base", "src",
                                         "--batch-size", "5000",   "--rows-per-second", "300000"};
    validate.insert(validate.end(), sides.begin(), sides.end());
    CommandResult validated = on_a_terminal(validate);
    ASSERT_EQ(validated.exit_code, 0) << describe(validated);
    EXPECT_NE(validated.out.find("validating big: "), std::string::npos) << describe(validated);
    EXPECT_NE(validated.out.find(" of ~"), std::string::npos) << describe(validated);

    // The fixer with --until-idle: its events (of the topic's, once known)
    // while it joins its group and reads.
    std::vector<std::string> fix = {"fix",
                                    "--until-idle",
                                    "--from",
                                    "kafka://" + testing::kafka_bootstrap() + "/" + testing::unique_name("progress"),
                                    "--group",
                                    testing::unique_name("g"),
                                    "--session-timeout",
                                    "3s"};
    fix.insert(fix.end(), sides.begin(), sides.end());
    CommandResult fixed = on_a_terminal(fix);
    ASSERT_EQ(fixed.exit_code, 0) << describe(fixed);
    EXPECT_NE(fixed.out.find("\r\033[Kfixing: 0 events"), std::string::npos) << describe(fixed);

    // Not a terminal (a pipe, cron): no progress at all.
    copy.push_back("--truncate");  // (throttled as well: a second or two)
    CommandResult piped = testing::webookctl(copy);
    ASSERT_EQ(piped.exit_code, 0) << describe(piped);
    EXPECT_EQ(piped.err.find('\r'), std::string::npos) << describe(piped);
    EXPECT_EQ(piped.err.find("copying big"), std::string::npos) << describe(piped);
}

}  // namespace
}  // namespace webook
