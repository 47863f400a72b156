// [kafka] in the config file: librdkafka properties every Kafka client of
// the process gets, against the mock cluster. A working set leaves a fixer
// working; a property librdkafka refuses, or a secret file that cannot be
// read, is one error line and exit 2 before anything runs; a secret -- from a
// file or written inline -- never appears in anything printed, even at trace
// level.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/child_process.h"
#include "tests/support/cli_run.h"
#include "tests/support/migration_data.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using testing::CommandResult;
using testing::describe;
using testing::expect_one_error;
using testing::MigrationDatabases;
using testing::ScratchDir;
using testing::webookctl;

class CliKafkaConfig : public ::testing::Test {
protected:
    CliKafkaConfig() : m_dbs(testing::engine_pairs()[0], "clikafkaconf"), m_dir("clikafkaconf") {}

    // `fix --until-idle` from an empty topic, with `kafka` as the [kafka] table.
    CommandResult fix_with(const std::string& kafka, const std::string& log_level = "info") {
        const std::string config = m_dir.file("webookctl.toml");
        testing::write_file(config, "[kafka]\n" + kafka);
        return webookctl({"--config", config, "--log-level", log_level, "--output", "json", "fix", "--until-idle",
                          "--from", "kafka://" + testing::kafka_bootstrap() + "/" + testing::unique_name("kc"),
                          "--group", testing::unique_name("g"), "--session-timeout", "3s", "--source",
                          m_dbs.source.url(), "--target", m_dbs.target.url()});
    }

    MigrationDatabases m_dbs;
    ScratchDir m_dir;
};

TEST_F(CliKafkaConfig, APassedThroughSetKeepsTheFixerWorking) {
    CommandResult r = fix_with(
        "\"security.protocol\" = \"plaintext\"\n\"client.id\" = "
        "\"webookctl-ops\"\nssl.endpoint.identification.algorithm "
        "= \"none\"\n");
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_EQ(testing::last_json(r).at("events"), 0);
}

TEST_F(CliKafkaConfig, APropertyLibrdkafkaRefusesIsOneLineAndExitTwo) {
    expect_one_error(fix_with("\"security.protocol\" = \"carrier-pigeon\"\n"), 2, "[kafka] security.protocol");
    expect_one_error(fix_with("\"ssl.no.such.property\" = \"x\"\n"), 2, "[kafka] ssl.no.such.property");
    expect_one_error(fix_with("\"socket.timeout.ms\" = 10\n"), 2, "'socket.timeout.ms' is not a property");
    expect_one_error(fix_with("\"sasl.password_file\" = \"" + m_dir.file("missing") + "\"\n"), 2,
                     "[kafka] sasl.password_file: cannot read");
}

TEST_F(CliKafkaConfig, ASecretIsNeverPrintedEvenAtTraceLevel) {
    testing::write_file(m_dir.file("kafka.password"), "Kafka-F1le-S3cret\n");
    const std::string sasl =
        "\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanisms\" = \"PLAIN\"\n\"sasl.username\" = \"u\"\n";
    for (const std::string& secret : {"\"sasl.password_file\" = \"" + m_dir.file("kafka.password") + "\"\n",
                                      std::string("\"sasl.password\" = \"Inline-S3cret-Pw\"\n")}) {
        SCOPED_TRACE(secret);
        CommandResult r = fix_with(sasl + secret, "trace");
        EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 3) << describe(r);
        for (const char* s : {"Kafka-F1le-S3cret", "Inline-S3cret-Pw"}) {
            EXPECT_EQ(r.out.find(s), std::string::npos) << describe(r);
            EXPECT_EQ(r.err.find(s), std::string::npos) << describe(r);
        }
        if (secret.find("_file") == std::string::npos)
            EXPECT_NE(r.err.find("prefer sasl.password_file"), std::string::npos) << describe(r);
    }
}

}  // namespace
}  // namespace webook
