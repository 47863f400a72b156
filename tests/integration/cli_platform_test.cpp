// `webookctl article ...` and `webookctl interactive ...` run as a user runs
// them: JSON results on stdout that parse, illegal operations (another
// author's edit, an unknown article) exit 2 with one error line and write
// nothing, and with --source/--target the operations go through the
// double-write connection in the current migration mode.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/db/db.h"
#include "migrate/mode_control.h"
#include "platform/article.h"
#include "platform/schema.h"
#include "tests/support/child_process.h"
#include "tests/support/scratch_db.h"

namespace webook {
namespace {

using nlohmann::json;
using testing::CommandResult;
using testing::ScratchDatabase;

// Runs webookctl with no configuration but the passwords services.env exports.
CommandResult webookctl(std::vector<std::string> args) {
    std::vector<std::string> argv{"/usr/bin/env",          "-u", "WEBOOKCTL_CONFIG",     "-u",
                                  "WEBOOKCTL_SOURCE_DSN",  "-u", "WEBOOKCTL_TARGET_DSN", "-u",
                                  "WEBOOKCTL_CONTROL_DSN", "-u", "WEBOOKCTL_OUTPUT",     WEBOOKCTL_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::run_command(argv);
}

std::string describe(const CommandResult& r) {
    return fmt::format("exit {}\n--- stdout:\n{}\n--- stderr:\n{}", r.exit_code, r.out, r.err);
}

// The one JSON document a successful command printed.
json json_of(const CommandResult& r) {
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return json::parse(r.out);  // throws -- failing the test -- unless it is exactly one document
}

std::size_t line_count(const std::string& text) {
    std::size_t n = 0;
    for (char c : text)
        if (c == '\n') ++n;
    return n;
}

TEST(CliPlatform, ArticleCommandsPrintJsonAndAnotherAuthorsEditExitsTwo) {
    ScratchDatabase db(Engine::mysql, "cli_article");
    init_schema(*db.connect());
    const std::string dsn = db.url();

    json saved = json_of(webookctl({"article", "save", "--author", "7", "--title", "CLI 标题", "--content", "hello",
                                    "--dsn", dsn, "--output", "json"}));
    ASSERT_TRUE(saved["id"].is_number_integer());
    const std::string id = std::to_string(saved["id"].get<std::int64_t>());
    EXPECT_EQ(saved["status"], "unpublished");
    EXPECT_EQ(saved["created"], true);

    json published =
        json_of(webookctl({"article", "publish", "--id", id, "--author", "7", "--dsn", dsn, "--output", "json"}));
    EXPECT_EQ(published["status"], "published");

    // Another author: exit 2, one line naming the problem, nothing written.
    CommandResult hijack =
        webookctl({"article", "save", "--id", id, "--author", "8", "--title", "hijacked", "--dsn", dsn});
    EXPECT_EQ(hijack.exit_code, 2) << describe(hijack);
    EXPECT_EQ(line_count(hijack.err), 1u) << hijack.err;
    EXPECT_NE(hijack.err.find("webookctl: error: article " + id + " belongs to author 7, not 8"), std::string::npos)
        << hijack.err;
    EXPECT_TRUE(hijack.out.empty()) << hijack.out;
    CommandResult withdraw = webookctl({"article", "withdraw", "--id", id, "--author", "8", "--dsn", dsn});
    EXPECT_EQ(withdraw.exit_code, 2) << describe(withdraw);

    json got = json_of(webookctl({"article", "get", "--id", id, "--dsn", dsn, "--output", "json"}));
    EXPECT_EQ(got["title"], "CLI 标题");
    EXPECT_EQ(got["content"], "hello");
    EXPECT_EQ(got["copy"], "published");
    auto conn = db.connect();
    EXPECT_EQ(ArticleService(*conn).get_draft(saved["id"].get<std::int64_t>(), 7).title, "CLI 标题");

    json list = json_of(webookctl({"article", "list", "--author", "7", "--dsn", dsn, "--output", "json"}));
    ASSERT_EQ(list["articles"].size(), 1u);
    EXPECT_EQ(list["articles"][0]["id"], saved["id"]);
    EXPECT_TRUE(list["next_before"].is_null());

    // Text output for people.
    CommandResult text = webookctl({"article", "withdraw", "--id", id, "--author", "7", "--dsn", dsn});
    EXPECT_EQ(text.exit_code, 0) << describe(text);
    EXPECT_NE(text.out.find("withdrew article " + id), std::string::npos) << text.out;

    // Bad flags are usage errors before anything runs.
    CommandResult both = webookctl({"article", "list", "--author", "7", "--dsn", dsn, "--source", dsn});
    EXPECT_EQ(both.exit_code, 2) << describe(both);
    CommandResult nowhere = webookctl({"article", "list", "--author", "7"});
    EXPECT_EQ(nowhere.exit_code, 2) << describe(nowhere);
    EXPECT_NE(nowhere.err.find("no database"), std::string::npos) << nowhere.err;
}

TEST(CliPlatform, InteractiveCommandsCountOnceAndRefuseUnknownArticles) {
    ScratchDatabase db(Engine::postgres, "cli_interactive");
    init_schema(*db.connect());
    const std::string dsn = db.url();
    json published = json_of(
        webookctl({"article", "publish", "--author", "1", "--title", "likeable", "--dsn", dsn, "--output", "json"}));
    const std::string id = std::to_string(published["id"].get<std::int64_t>());

    json like =
        json_of(webookctl({"interactive", "like", "--uid", "5", "--article", id, "--dsn", dsn, "--output", "json"}));
    EXPECT_EQ(like["changed"], true);
    EXPECT_EQ(like["like_cnt"], 1);
    json again =
        json_of(webookctl({"interactive", "like", "--uid", "5", "--article", id, "--dsn", dsn, "--output", "json"}));
    EXPECT_EQ(again["changed"], false);
    EXPECT_EQ(again["like_cnt"], 1);
    json read = json_of(webookctl({"interactive", "read", "--article", id, "--dsn", dsn, "--output", "json"}));
    EXPECT_EQ(read["read_cnt"], 1);
    json collect = json_of(webookctl({"interactive", "collect", "--uid", "5", "--article", id, "--collection", "3",
                                      "--dsn", dsn, "--output", "json"}));
    EXPECT_EQ(collect["collect_cnt"], 1);
    json got =
        json_of(webookctl({"interactive", "get", "--article", id, "--uid", "5", "--dsn", dsn, "--output", "json"}));
    EXPECT_EQ(got["liked"], true);
    EXPECT_EQ(got["collected"], true);
    EXPECT_EQ(got["collection_id"], 3);

    CommandResult unknown = webookctl({"interactive", "like", "--uid", "5", "--article", "999", "--dsn", dsn});
    EXPECT_EQ(unknown.exit_code, 2) << describe(unknown);
    EXPECT_EQ(line_count(unknown.err), 1u) << unknown.err;
    EXPECT_NE(unknown.err.find("article 999 does not exist or is not published"), std::string::npos) << unknown.err;
    auto conn = db.connect();
    EXPECT_EQ((*conn->query_one("SELECT COUNT(*) FROM user_like_bizs"))[0].as_int(), 1);
}

TEST(CliPlatform, WithASourceAndATargetOperationsDoubleWriteInTheCurrentMode) {
    ScratchDatabase src(Engine::mysql, "cli_dw_src");
    ScratchDatabase dst(Engine::postgres, "cli_dw_dst");
    init_schema(*src.connect());
    init_schema(*dst.connect());
    auto control = src.connect();
    ensure_mode_row(*control);
    set_mode(*control, Mode::src_first);

    json published = json_of(webookctl({"article", "publish", "--author", "2", "--title", "on both sides", "--source",
                                        src.url(), "--target", dst.url(), "--output", "json"}));
    const std::int64_t id = published["id"].get<std::int64_t>();
    json like = json_of(webookctl({"interactive", "like", "--uid", "9", "--article", std::to_string(id), "--source",
                                   src.url(), "--target", dst.url(), "--output", "json"}));
    EXPECT_EQ(like["like_cnt"], 1);

    for (auto* db : {&src, &dst}) {
        auto conn = db->connect();
        EXPECT_EQ(ArticleService(*conn).get_published(id).title, "on both sides") << db->url();
        EXPECT_EQ((*conn->query_one("SELECT like_cnt FROM interactives"))[0].as_int(), 1) << db->url();
    }
}

}  // namespace
}  // namespace webook
