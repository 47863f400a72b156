#include "core/base/metrics.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "tests/support/manual_clock.h"

namespace webook {
namespace {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::size_t count(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (auto pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
    return n;
}

class MetricsFileWrite : public ::testing::Test {
protected:
    void SetUp() override {
        m_dir =
            std::filesystem::temp_directory_path() / ("webook_metrics_test_" + std::to_string(::getpid()) + "_" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(m_dir);
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }

    std::filesystem::path m_dir;
};

TEST(MetricsFile, WritesHelpAndTypeOncePerName) {
    MetricsFile m;
    m.gauge("webookctl_rows", "Rows compared.", {{"table", "users"}}, 5);
    m.gauge("webookctl_rows", "A different help text is ignored.", {{"table", "orders"}}, 7);
    m.gauge("webookctl_up", "Whether the run succeeded.", {}, 1);
    EXPECT_EQ(m.text(),
              "# HELP webookctl_rows Rows compared.\n"
              "# TYPE webookctl_rows gauge\n"
              "webookctl_rows{table=\"users\"} 5\n"
              "webookctl_rows{table=\"orders\"} 7\n"
              "# HELP webookctl_up Whether the run succeeded.\n"
              "# TYPE webookctl_up gauge\n"
              "webookctl_up 1\n");
}

TEST(MetricsFile, KeepsMetricsInTheOrderTheyWereFirstSeen) {
    MetricsFile m;
    m.gauge("zeta", "z", {}, 1);
    m.gauge("alpha", "a", {}, 2);
    m.gauge("zeta", "z", {{"x", "y"}}, 3);
    const std::string t = m.text();
    EXPECT_LT(t.find("# HELP zeta"), t.find("# HELP alpha"));
    EXPECT_EQ(count(t, "# HELP zeta"), 1u);
    EXPECT_EQ(count(t, "# TYPE zeta gauge"), 1u);
    EXPECT_LT(t.find("zeta{x=\"y\"} 3"), t.find("# HELP alpha"));  // samples stay with their metric
}

TEST(MetricsFile, SeparatesSeveralLabelsWithCommas) {
    MetricsFile m;
    m.gauge("webookctl_differences", "Differences.", {{"type", "neq"}, {"table", "users"}}, 3);
    EXPECT_NE(m.text().find("webookctl_differences{table=\"users\",type=\"neq\"} 3\n"), std::string::npos) << m.text();
}

TEST(MetricsFile, EscapesBackslashesQuotesAndNewlinesInLabels) {
    MetricsFile m;
    m.gauge("g", "help", {{"path", "C:\\dir \"x\"\nnext"}}, 1);
    EXPECT_NE(m.text().find("g{path=\"C:\\\\dir \\\"x\\\"\\nnext\"} 1\n"), std::string::npos) << m.text();
}

TEST(MetricsFile, WritesFractionalAndLargeValues) {
    MetricsFile m;
    m.gauge("a", "h", {}, 0.25);
    m.gauge("b", "h", {}, 1234567.0);
    const std::string t = m.text();
    EXPECT_NE(t.find("a 0.25\n"), std::string::npos) << t;
    EXPECT_NE(t.find("b 1234567\n"), std::string::npos) << t;
}

TEST(MetricsFile, AnEmptyFileHasNoText) {
    EXPECT_EQ(MetricsFile().text(), "");
}

TEST_F(MetricsFileWrite, WritesTheTextAndLeavesNoTemporaryFile) {
    MetricsFile m;
    m.gauge("webookctl_up", "Up.", {}, 1);
    const auto path = m_dir / "webookctl.prom";
    m.write(path.string());
    EXPECT_EQ(read_file(path), m.text());
    EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(m_dir)) ++files;
    EXPECT_EQ(files, 1u);
}

TEST_F(MetricsFileWrite, ReplacesAnExistingFileWhole) {
    const auto path = m_dir / "webookctl.prom";
    std::ofstream(path) << std::string(10'000, '#') << "\nold_metric 42\n";
    MetricsFile m;
    m.gauge("new_metric", "New.", {}, 1);
    m.write(path.string());
    EXPECT_EQ(read_file(path), m.text());
}

TEST_F(MetricsFileWrite, AnUnwritablePathIsAConfigError) {
    MetricsFile m;
    m.gauge("webookctl_up", "Up.", {}, 1);
    const std::string path = (m_dir / "no-such-dir" / "webookctl.prom").string();
    try {
        m.write(path);
        FAIL() << "writing into a missing directory succeeded";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST_F(MetricsFileWrite, APathThatIsADirectoryIsAConfigErrorAndLeavesNoTemporaryFile) {
    const auto path = m_dir / "taken";
    std::filesystem::create_directories(path / "child");
    MetricsFile m;
    m.gauge("webookctl_up", "Up.", {}, 1);
    try {
        m.write(path.string());
        FAIL() << "replacing a non-empty directory succeeded";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config);
    }
    EXPECT_FALSE(std::filesystem::exists(path.string() + ".tmp"));
    EXPECT_TRUE(std::filesystem::is_directory(path));
}

TEST(MetricsFile, ACounterIsTypedCounterAndLivenessWritesUpAndAHeartbeat) {
    MetricsFile m;
    m.counter("webookctl_fix_events_total", "Events read", {{"group", "g"}}, 17);
    m.liveness("webookctl_fix", {{"group", "g"}}, false);
    const std::string text = m.text();
    EXPECT_NE(text.find("# TYPE webookctl_fix_events_total counter\nwebookctl_fix_events_total{group=\"g\"} 17\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("# TYPE webookctl_fix_up gauge\nwebookctl_fix_up{group=\"g\"} 0\n"), std::string::npos) << text;
    EXPECT_NE(text.find("webookctl_fix_heartbeat_timestamp_seconds{group=\"g\"} 1"), std::string::npos) << text;
}

TEST_F(MetricsFileWrite, AWriterRewritesAtMostOncePerIntervalAndChecksItsPathFirst) {
    testing::ManualClock clock;
    const std::string path = (m_dir / "fix.prom").string();
    MetricsWriter w(path, std::chrono::seconds(1), clock);
    ASSERT_TRUE(w.due()) << "nothing written yet";
    MetricsFile m;
    m.gauge("a", "A", {}, 1);
    w.write(m);
    EXPECT_FALSE(w.due());
    clock.advance(std::chrono::milliseconds(999));
    EXPECT_FALSE(w.due());
    clock.advance(std::chrono::milliseconds(1));
    EXPECT_TRUE(w.due());
    EXPECT_EQ(read_file(path), m.text());

    EXPECT_FALSE(MetricsWriter("").enabled());
    EXPECT_FALSE(MetricsWriter("").due()) << "no path: never due";
    EXPECT_THROW(MetricsWriter((m_dir / "no" / "dir.prom").string()), Error);
    try {
        check_metrics_path((m_dir / "missing" / "x.prom").string());
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
    }
}

// On a command's way out the error it ends with is the one reported: a file
// that cannot be written, or metrics that cannot be built, are only logged.
TEST_F(MetricsFileWrite, AWriteAfterAFailureNeverThrowsAndStillWritesWhenItCan) {
    const std::filesystem::path dir = m_dir / "gone";
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "fix.prom").string();
    MetricsWriter w(path);
    MetricsFile m;
    m.gauge("webookctl_fix_up", "Up", {}, 0);
    w.write_after_failure([&] { return m; });
    EXPECT_EQ(read_file(path), m.text());

    EXPECT_NO_THROW(w.write_after_failure([]() -> MetricsFile { throw Error(Code::connection, "lost the broker"); }));
    std::filesystem::remove_all(dir);
    EXPECT_THROW(w.write(m), Error) << "a plain write still says so";
    EXPECT_NO_THROW(w.write_after_failure([&] { return m; }));
    bool built = false;
    MetricsWriter("").write_after_failure([&] {
        built = true;
        return m;
    });
    EXPECT_FALSE(built) << "no path: nothing is built";
}

}  // namespace
}  // namespace webook
