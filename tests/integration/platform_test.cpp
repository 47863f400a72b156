// The platform's operations (platform/article.h, platform/interactive.h) against the
// real servers: on a plain MariaDB and a plain PostgreSQL database, and
// through the double-write connection (MariaDB source -> PostgreSQL target in
// src_first), where both sides must end with identical rows.
//
// Every test works in scratch databases of its own (tests/support/scratch_db.h).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "migrate/double_write.h"
#include "migrate/mode_control.h"
#include "platform/article.h"
#include "platform/ids.h"
#include "platform/interactive.h"
#include "platform/schema.h"
#include "tests/support/connection_wrapper.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch_db.h"

namespace webook {
namespace {

using testing::ScratchDatabase;

const std::vector<std::string> k_platform_tables{"articles", "published_articles", "interactives", "user_like_bizs",
                                                 "user_collection_bizs"};

// Every row of `table`, in id order.
std::vector<Row> rows_of(Connection& conn, const std::string& table) {
    const Dialect& d = conn.dialect();
    return conn.query(fmt::format("SELECT * FROM {} ORDER BY {}", d.quote(table), d.quote("id")));
}

// Every platform table's rows: to prove that a failed operation wrote nothing.
std::vector<std::vector<Row>> snapshot(Connection& conn) {
    std::vector<std::vector<Row>> out;
    for (const auto& t : k_platform_tables) out.push_back(rows_of(conn, t));
    return out;
}

bool same_rows(const std::vector<Row>& a, const std::vector<Row>& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!same_row(a[i], b[i])) return false;
    return true;
}

bool same_snapshot(const std::vector<std::vector<Row>>& a, const std::vector<std::vector<Row>>& b) {
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!same_rows(a[i], b[i])) return false;
    return true;
}

std::int64_t count_where(Connection& conn, const std::string& table, const std::string& condition = "1 = 1") {
    return (*conn.query_one(fmt::format("SELECT COUNT(*) FROM {} WHERE {}", conn.dialect().quote(table), condition)))[0]
        .as_int();
}

// Runs fn, which must throw Error(Code::usage) whose message contains `text`.
template <typename Fn>
void expect_usage_error(Fn&& fn, const std::string& text) {
    try {
        fn();
        ADD_FAILURE() << "expected an error containing '" << text << "'";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::usage) << e.what();
        EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
}

Draft new_draft(std::int64_t author, std::string title, std::string content = "some text") {
    Draft d;
    d.author_id = author;
    d.title = std::move(title);
    d.content = std::move(content);
    return d;
}

// Random likes, unlikes, collects, uncollects and reads by `threads` writers
// (each with its own connection from `connect`) over a few articles and a few
// users, so the same user's record and the same counters are contended.
void mixed_traffic(const std::function<std::unique_ptr<Connection>()>& connect,
                   const std::vector<std::int64_t>& articles, int threads, int ops_per_thread) {
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            try {
                auto conn = connect();
                InteractiveService interactions(*conn);
                std::minstd_rand rng(static_cast<unsigned>(t + 1));
                for (int i = 0; i < ops_per_thread; ++i) {
                    const std::int64_t id = articles[rng() % articles.size()];
                    const std::int64_t uid = 1 + static_cast<std::int64_t>(rng() % 12);
                    switch (rng() % 5) {
                    case 0: interactions.like(uid, id); break;
                    case 1: interactions.unlike(uid, id); break;
                    case 2: interactions.collect(uid, id, static_cast<std::int64_t>(rng() % 3)); break;
                    case 3: interactions.uncollect(uid, id); break;
                    default: interactions.read(id); break;
                    }
                }
            } catch (const std::exception& e) {
                ++failures;
                ADD_FAILURE() << "writer " << t << ": " << e.what();
            }
        });
    }
    for (auto& w : workers) w.join();
    EXPECT_EQ(failures.load(), 0);
}

// Each article's like and collect counts equal its active records.
void expect_counters_match_records(Connection& conn, const std::vector<std::int64_t>& articles) {
    for (std::int64_t id : articles) {
        Counters c = InteractiveService(conn).get(id).counters;
        EXPECT_EQ(c.like_cnt, count_where(conn, "user_like_bizs", fmt::format("status = 1 AND biz_id = {}", id)))
            << conn.describe() << " article " << id;
        EXPECT_EQ(c.collect_cnt,
                  count_where(conn, "user_collection_bizs", fmt::format("status = 1 AND biz_id = {}", id)))
            << conn.describe() << " article " << id;
    }
}

// ---------------------------------------------------------------------------
// On each engine, plain connections.

class PlatformOnEachEngine : public ::testing::TestWithParam<Engine> {
protected:
    void SetUp() override {
        m_db = std::make_unique<ScratchDatabase>(GetParam(), "platform");
        m_conn = m_db->connect();
        init_schema(*m_conn);
    }

    std::int64_t published_article(std::int64_t author = 1) {
        return ArticleService(*m_conn).publish(new_draft(author, "a published article")).id;
    }

    std::unique_ptr<ScratchDatabase> m_db;
    std::unique_ptr<Connection> m_conn;
};

INSTANTIATE_TEST_SUITE_P(Engines, PlatformOnEachEngine, ::testing::Values(Engine::mysql, Engine::postgres),
                         [](const auto& info) { return std::string(engine_name(info.param)); });

TEST_P(PlatformOnEachEngine, SaveCreatesADraftAndAnEditChangesOnlyWhatItNames) {
    testing::ManualClock clock(1'780'000'000'000'000);
    ArticleService articles(*m_conn, IdGenerator::global(), clock);
    SaveResult created = articles.save(new_draft(7, "标题 with ünïcödé 🚀", "first text"));
    EXPECT_TRUE(created.created);
    EXPECT_GT(created.id, 0);
    EXPECT_EQ(created.status, ArticleStatus::unpublished);

    Article a = articles.get_draft(created.id, 7);
    EXPECT_EQ(a.title, "标题 with ünïcödé 🚀");
    EXPECT_EQ(a.content, "first text");
    EXPECT_EQ(a.author_id, 7);
    EXPECT_EQ(a.ctime, clock.wall_micros());  // the client's clock, to the microsecond
    EXPECT_EQ(a.utime, clock.wall_micros());

    clock.advance(std::chrono::microseconds(1'500'123));
    Draft edit;
    edit.id = created.id;
    edit.author_id = 7;
    edit.title = "a new title";
    SaveResult edited = articles.save(edit);
    EXPECT_FALSE(edited.created);
    EXPECT_EQ(edited.id, created.id);
    a = articles.get_draft(created.id, 7);
    EXPECT_EQ(a.title, "a new title");
    EXPECT_EQ(a.content, "first text");  // not named, not changed
    EXPECT_EQ(a.utime, clock.wall_micros());
    EXPECT_EQ(a.ctime, clock.wall_micros() - 1'500'123);
    EXPECT_EQ(count_where(*m_conn, "published_articles"), 0);  // a draft is not for readers
}

TEST_P(PlatformOnEachEngine, PublishCopiesTheDraftForReadersAndAnEditStaysInTheDraft) {
    ArticleService articles(*m_conn);
    SaveResult draft = articles.save(new_draft(3, "draft title", "draft text"));

    // Publishing the draft as it is: the copy carries the draft's title and text.
    Draft publish;
    publish.id = draft.id;
    publish.author_id = 3;
    SaveResult published = articles.publish(publish);
    EXPECT_EQ(published.id, draft.id);
    EXPECT_EQ(published.status, ArticleStatus::published);
    Article copy = articles.get_published(draft.id);
    EXPECT_EQ(copy.title, "draft title");
    EXPECT_EQ(copy.content, "draft text");
    EXPECT_EQ(copy.status, ArticleStatus::published);
    EXPECT_EQ(articles.get_draft(draft.id, 3).status, ArticleStatus::published);

    // An edit goes to the draft only, which is unpublished again.
    Draft edit;
    edit.id = draft.id;
    edit.author_id = 3;
    edit.content = "edited text";
    articles.save(edit);
    EXPECT_EQ(articles.get_draft(draft.id, 3).status, ArticleStatus::unpublished);
    EXPECT_EQ(articles.get_published(draft.id).content, "draft text");

    // Publishing again refreshes the copy and keeps its first publication time.
    articles.publish(publish);
    Article again = articles.get_published(draft.id);
    EXPECT_EQ(again.content, "edited text");
    EXPECT_EQ(again.ctime, copy.ctime);
    EXPECT_GE(again.utime, copy.utime);
    EXPECT_EQ(count_where(*m_conn, "published_articles"), 1);

    // A new article published at once has one id in both tables.
    SaveResult fresh = articles.publish(new_draft(3, "straight to readers"));
    EXPECT_TRUE(fresh.created);
    EXPECT_EQ(articles.get_published(fresh.id).title, "straight to readers");
    EXPECT_EQ(articles.get_draft(fresh.id, 3).status, ArticleStatus::published);
}

TEST_P(PlatformOnEachEngine, WithdrawMakesBothCopiesPrivate) {
    ArticleService articles(*m_conn);
    const std::int64_t id = published_article(5);
    WithdrawResult r = articles.withdraw(id, 5);
    EXPECT_TRUE(r.published_copy);
    EXPECT_EQ(articles.get_draft(id, 5).status, ArticleStatus::withdrawn);
    expect_usage_error([&] { articles.get_published(id); }, "does not exist or is not published");
    EXPECT_EQ(count_where(*m_conn, "published_articles", "status = 3"), 1);

    // Never published: only the draft to hide.
    SaveResult draft = articles.save(new_draft(5, "never published"));
    EXPECT_FALSE(articles.withdraw(draft.id, 5).published_copy);
    EXPECT_EQ(articles.get_draft(draft.id, 5).status, ArticleStatus::withdrawn);
}

TEST_P(PlatformOnEachEngine, AnotherAuthorCannotChangeAnArticleAndNothingIsWritten) {
    ArticleService articles(*m_conn);
    const std::int64_t id = published_article(1);
    const auto before = snapshot(*m_conn);

    Draft edit = new_draft(2, "hijacked", "hijacked");
    edit.id = id;
    expect_usage_error([&] { articles.save(edit); }, fmt::format("article {} belongs to author 1, not 2", id));
    expect_usage_error([&] { articles.publish(edit); }, "only its author may change it");
    expect_usage_error([&] { articles.withdraw(id, 2); }, "only its author may change it");
    expect_usage_error([&] { articles.get_draft(id, 2); }, "belongs to author 1");

    edit.id = 4242;
    expect_usage_error([&] { articles.save(edit); }, "article 4242 does not exist");
    expect_usage_error([&] { articles.publish(edit); }, "article 4242 does not exist");
    expect_usage_error([&] { articles.withdraw(4242, 2); }, "article 4242 does not exist");

    EXPECT_TRUE(same_snapshot(before, snapshot(*m_conn)));
}

TEST_P(PlatformOnEachEngine, BadDraftsAreRefusedBeforeAnythingRuns) {
    ArticleService articles(*m_conn);
    Draft no_title;
    no_title.author_id = 1;
    expect_usage_error([&] { articles.save(no_title); }, "needs a title");
    expect_usage_error([&] { articles.save(new_draft(0, "t")); }, "author id must be positive");
    expect_usage_error([&] { articles.save(new_draft(1, std::string(257, 'x'))); }, "at most 256");
    // 256 characters of 4 bytes each fit.
    std::string long_title;
    for (int i = 0; i < 256; ++i) long_title += "🚀";
    EXPECT_EQ(articles.get_draft(articles.save(new_draft(1, long_title)).id, 1).title, long_title);
}

TEST_P(PlatformOnEachEngine, ListPagesThroughAnAuthorsDraftsNewestFirst) {
    ArticleService articles(*m_conn);
    std::vector<std::int64_t> mine;
    for (int i = 0; i < 5; ++i) mine.push_back(articles.save(new_draft(9, fmt::format("mine {}", i))).id);
    articles.save(new_draft(10, "someone else's"));

    std::vector<std::int64_t> seen;
    ListOptions options;
    options.limit = 2;
    int pages = 0;
    for (;;) {
        ArticlePage page = articles.list(9, options);
        ++pages;
        for (const auto& s : page.articles) seen.push_back(s.id);
        if (!page.next_before_id) break;
        options.before_id = *page.next_before_id;
    }
    std::vector<std::int64_t> expected(mine.rbegin(), mine.rend());
    EXPECT_EQ(seen, expected);
    EXPECT_EQ(pages, 3);  // 2 + 2 + 1
    EXPECT_EQ(articles.list(9, ListOptions{1, 0}).articles.at(0).title, "mine 4");
    EXPECT_TRUE(articles.list(11).articles.empty());
}

TEST_P(PlatformOnEachEngine, ALikeCountsOncePerUserAndUnlikeThenLikeCountsAgain) {
    InteractiveService interactions(*m_conn);
    const std::int64_t id = published_article();

    ToggleResult first = interactions.like(100, id);
    EXPECT_TRUE(first.changed);
    EXPECT_EQ(first.counters.like_cnt, 1);
    ToggleResult second = interactions.like(100, id);
    EXPECT_FALSE(second.changed);
    EXPECT_EQ(second.counters.like_cnt, 1);
    interactions.like(101, id);
    EXPECT_EQ(interactions.get(id).counters.like_cnt, 2);

    EXPECT_TRUE(interactions.unlike(100, id).changed);
    EXPECT_FALSE(interactions.unlike(100, id).changed);  // nothing left to undo
    EXPECT_EQ(interactions.get(id).counters.like_cnt, 1);
    EXPECT_TRUE(interactions.like(100, id).changed);  // the cancelled record comes back
    EXPECT_EQ(interactions.get(id).counters.like_cnt, 2);

    // One record per user, soft-deleted and revived in place.
    EXPECT_EQ(count_where(*m_conn, "user_like_bizs"), 2);
    EXPECT_EQ(count_where(*m_conn, "interactives"), 1);

    // Unliking what was never liked writes no record.
    EXPECT_FALSE(interactions.unlike(102, id).changed);
    EXPECT_EQ(count_where(*m_conn, "user_like_bizs"), 2);

    Interaction seen = interactions.get(id, 100);
    EXPECT_TRUE(*seen.liked);
    EXPECT_FALSE(*seen.collected);
    EXPECT_FALSE(*interactions.get(id, 102).liked);
}

TEST_P(PlatformOnEachEngine, ReadsAndCollectsCountAndACollectMovesBetweenCollections) {
    InteractiveService interactions(*m_conn);
    const std::int64_t id = published_article();
    EXPECT_EQ(interactions.read(id).read_cnt, 1);
    EXPECT_EQ(interactions.read(id).read_cnt, 2);

    ToggleResult c = interactions.collect(7, id, 1);
    EXPECT_TRUE(c.changed);
    EXPECT_EQ(c.counters.collect_cnt, 1);
    ToggleResult moved = interactions.collect(7, id, 2);
    EXPECT_FALSE(moved.changed);
    EXPECT_TRUE(moved.moved);
    EXPECT_EQ(moved.counters.collect_cnt, 1);
    EXPECT_EQ(*interactions.get(id, 7).collection_id, 2);
    ToggleResult same = interactions.collect(7, id, 2);
    EXPECT_FALSE(same.changed || same.moved);

    EXPECT_TRUE(interactions.uncollect(7, id).changed);
    EXPECT_FALSE(interactions.uncollect(7, id).changed);
    EXPECT_FALSE(*interactions.get(id, 7).collected);
    ToggleResult back = interactions.collect(7, id, 3);
    EXPECT_TRUE(back.changed);
    EXPECT_EQ(*interactions.get(id, 7).collection_id, 3);

    Counters total = interactions.get(id).counters;
    EXPECT_EQ(total.read_cnt, 2);
    EXPECT_EQ(total.like_cnt, 0);
    EXPECT_EQ(total.collect_cnt, 1);
}

TEST_P(PlatformOnEachEngine, InteractingWithAnArticleReadersCannotSeeFailsAndWritesNothing) {
    InteractiveService interactions(*m_conn);
    ArticleService articles(*m_conn);
    const std::int64_t draft = articles.save(new_draft(1, "just a draft")).id;
    const std::int64_t withdrawn = published_article(1);
    articles.withdraw(withdrawn, 1);
    const auto before = snapshot(*m_conn);

    for (std::int64_t id : {std::int64_t{987654321}, draft, withdrawn}) {
        const std::string message = fmt::format("article {} does not exist or is not published", id);
        expect_usage_error([&] { interactions.like(1, id); }, message);
        expect_usage_error([&] { interactions.read(id); }, message);
        expect_usage_error([&] { interactions.collect(1, id, 0); }, message);
    }
    expect_usage_error([&] { interactions.get(987654321); }, "article 987654321 does not exist");
    EXPECT_NO_THROW(interactions.get(draft));  // it exists; nobody interacted
    EXPECT_TRUE(same_snapshot(before, snapshot(*m_conn)));
}

// Many writers, each with its own connection, on one article: every like
// and every read counts exactly once.
TEST_P(PlatformOnEachEngine, ConcurrentLikesFromManyThreadsCountExactly) {
    const std::int64_t id = published_article();
    constexpr int k_threads = 12;
    constexpr int k_users_per_thread = 15;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t) {
        threads.emplace_back([&, t] {
            try {
                auto conn = m_db->connect();
                InteractiveService interactions(*conn);
                for (int u = 0; u < k_users_per_thread; ++u) {
                    const std::int64_t uid = 1000 + t * k_users_per_thread + u;
                    interactions.like(uid, id);
                    interactions.like(uid, id);  // a second like changes nothing
                    interactions.read(id);
                    if (u % 3 == 0) {  // and a third of them think twice
                        interactions.unlike(uid, id);
                        interactions.like(uid, id);
                    }
                    // A user everyone shares: only the first like of it counts.
                    interactions.like(1, id);
                }
            } catch (const std::exception& e) {
                ++failures;
                ADD_FAILURE() << "thread " << t << ": " << e.what();
            }
        });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(failures.load(), 0);

    Counters c = InteractiveService(*m_conn).get(id).counters;
    EXPECT_EQ(c.like_cnt, k_threads * k_users_per_thread + 1);
    EXPECT_EQ(c.read_cnt, k_threads * k_users_per_thread);
    EXPECT_EQ(count_where(*m_conn, "user_like_bizs", "status = 1"), c.like_cnt);
    EXPECT_EQ(count_where(*m_conn, "interactives"), 1);
}

TEST_P(PlatformOnEachEngine, ContendedMixedTrafficKeepsCountersEqualToActiveRecords) {
    std::vector<std::int64_t> articles{published_article(), published_article(), published_article()};
    mixed_traffic([this] { return m_db->connect(); }, articles, 10, 120);
    expect_counters_match_records(*m_conn, articles);
}

// ---------------------------------------------------------------------------
// Through the double-write connection: MariaDB source, PostgreSQL target.

class PlatformThroughDoubleWrite : public ::testing::Test {
protected:
    void SetUp() override {
        for (auto* db : {&m_src, &m_dst}) init_schema(*db->connect());
        m_control = m_src.connect();
        ensure_mode_row(*m_control);
        set_mode(*m_control, Mode::src_first);
    }

    std::unique_ptr<Connection> double_write() {
        DoubleWriteSides sides;
        sides.source = [this] { return m_src.connect(); };
        sides.source_engine = m_src.engine();
        sides.target = [this] { return m_dst.connect(); };
        sides.target_engine = m_dst.engine();
        sides.control = [this] { return m_src.connect(); };
        return make_double_write(std::move(sides), m_counters);
    }

    // Both sides hold the same rows in every platform table.
    void expect_identical_sides() {
        auto src = m_src.connect();
        auto dst = m_dst.connect();
        for (const auto& table : k_platform_tables) {
            auto a = rows_of(*src, table);
            auto b = rows_of(*dst, table);
            ASSERT_EQ(a.size(), b.size()) << table;
            for (std::size_t i = 0; i < a.size(); ++i) {
                std::string ra, rb;
                for (const auto& v : a[i]) ra += v.display() + " | ";
                for (const auto& v : b[i]) rb += v.display() + " | ";
                EXPECT_TRUE(same_row(a[i], b[i])) << table << "\n source: " << ra << "\n target: " << rb;
            }
        }
    }

    ScratchDatabase m_src{Engine::mysql, "plat_dw_src"};
    ScratchDatabase m_dst{Engine::postgres, "plat_dw_dst"};
    std::unique_ptr<Connection> m_control;
    DoubleWriteCounters m_counters;
};

TEST_F(PlatformThroughDoubleWrite, EveryOperationLeavesBothSidesIdentical) {
    auto conn = double_write();
    ArticleService articles(*conn);
    InteractiveService interactions(*conn);

    SaveResult a = articles.save(new_draft(1, "cross-engine 🚀", "text with 'quotes' and \\ backslashes"));
    Draft edit;
    edit.id = a.id;
    edit.author_id = 1;
    edit.title = "edited";
    articles.save(edit);
    Draft publish;
    publish.id = a.id;
    publish.author_id = 1;
    articles.publish(publish);
    const std::int64_t b = articles.publish(new_draft(2, "second", "")).id;

    interactions.read(a.id);
    interactions.read(a.id);
    interactions.like(10, a.id);
    interactions.like(10, a.id);
    interactions.like(11, a.id);
    interactions.unlike(11, a.id);
    interactions.like(11, a.id);
    interactions.unlike(10, a.id);
    interactions.collect(10, a.id, 4);
    interactions.collect(10, a.id, 5);
    interactions.like(12, b);
    articles.withdraw(b, 2);

    // Refused operations write nothing on either side.
    Draft hijack = new_draft(3, "hijacked");
    hijack.id = a.id;
    expect_usage_error([&] { articles.save(hijack); }, "belongs to author 1, not 3");
    expect_usage_error([&] { interactions.like(10, b); }, "is not published");
    expect_usage_error([&] { interactions.like(10, 31337); }, "article 31337 does not exist");

    Interaction seen = interactions.get(a.id, 10);
    EXPECT_EQ(seen.counters.read_cnt, 2);
    EXPECT_EQ(seen.counters.like_cnt, 1);
    EXPECT_EQ(seen.counters.collect_cnt, 1);
    EXPECT_FALSE(*seen.liked);
    EXPECT_EQ(*seen.collection_id, 5);
    EXPECT_EQ(articles.get_published(a.id).title, "edited");

    EXPECT_EQ(m_counters.second_side_failures.load(), 0u);
    expect_identical_sides();
    EXPECT_EQ(count_where(*m_dst.connect(), "articles"), 2);
}

TEST_F(PlatformThroughDoubleWrite, ConcurrentLikesCountExactlyOnBothSides) {
    const std::int64_t id = [&] {
        auto conn = double_write();
        return ArticleService(*conn).publish(new_draft(1, "popular")).id;
    }();
    constexpr int k_threads = 8;
    constexpr int k_users_per_thread = 10;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t) {
        threads.emplace_back([&, t] {
            try {
                auto conn = double_write();
                InteractiveService interactions(*conn);
                for (int u = 0; u < k_users_per_thread; ++u) {
                    const std::int64_t uid = 500 + t * k_users_per_thread + u;
                    interactions.like(uid, id);
                    interactions.like(uid, id);
                    interactions.read(id);
                }
            } catch (const std::exception& e) {
                ++failures;
                ADD_FAILURE() << "thread " << t << ": " << e.what();
            }
        });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(failures.load(), 0);

    for (auto* db : {&m_src, &m_dst}) {
        auto conn = db->connect();
        Counters c = InteractiveService(*conn).get(id).counters;
        EXPECT_EQ(c.like_cnt, k_threads * k_users_per_thread) << engine_name(db->engine());
        EXPECT_EQ(c.read_cnt, k_threads * k_users_per_thread) << engine_name(db->engine());
    }
    EXPECT_EQ(m_counters.second_side_failures.load(), 0u);
    expect_identical_sides();
}

// A deadlock on the first side is retried as a whole transaction, on both
// sides, and the user's like succeeds once.
TEST_F(PlatformThroughDoubleWrite, AFirstSideDeadlockIsRetriedAndCountsOnce) {
    const std::int64_t id = [&] {
        auto conn = double_write();
        return ArticleService(*conn).publish(new_draft(1, "deadlocked")).id;
    }();
    std::atomic<int> deadlocks{0};
    DoubleWriteSides sides;
    sides.source = [&] {
        return std::make_unique<testing::ConnectionWrapper>(m_src.connect(), [&](std::string_view sql) {
            // The first like's counter upsert loses a deadlock, once.
            if (sql.find("INSERT INTO `interactives`") != std::string_view::npos && deadlocks++ == 0)
                throw Error(Code::server, "Deadlock found when trying to get lock (injected)", Temporary::yes);
        });
    };
    sides.source_engine = Engine::mysql;
    sides.target = [this] { return m_dst.connect(); };
    sides.target_engine = Engine::postgres;
    sides.control = [this] { return m_src.connect(); };
    auto conn = make_double_write(std::move(sides), m_counters);

    ToggleResult r = InteractiveService(*conn).like(3, id);
    EXPECT_TRUE(r.changed);
    EXPECT_EQ(r.counters.like_cnt, 1);
    EXPECT_EQ(deadlocks.load(), 2);  // failed once, then went through
    EXPECT_EQ(m_counters.second_side_failures.load(), 0u);
    expect_identical_sides();
}

// A writer's first-side locks are held until its second side has committed:
// a second writer of the same rows, admitted on the first side as soon as the
// first writer's locks go, must find the first writer's rows on the second
// side too. (PostgreSQL's UPDATE neither sees nor waits for a row another
// transaction inserted and has not committed: had the first side committed
// first, an unlike arriving between the two commits of a like would match
// nothing on the target, and the target would keep the like the source lost.)
TEST_F(PlatformThroughDoubleWrite, AWriterAdmittedBetweenTheTwoCommitsSeesTheFirstWritersRowsOnBothSides) {
    const std::int64_t id = [&] {
        auto conn = double_write();
        return ArticleService(*conn).publish(new_draft(1, "between the commits")).id;
    }();
    std::mutex mu;
    std::condition_variable cv;
    bool unliked = false;
    std::thread unliker;
    bool armed = true;
    DoubleWriteSides sides;
    sides.source = [this] { return m_src.connect(); };
    sides.source_engine = Engine::mysql;
    sides.target = [&] {
        auto target = std::make_unique<testing::ConnectionWrapper>(m_dst.connect(), nullptr);
        target->before_commit([&](std::string_view) {
            if (!std::exchange(armed, false)) return;
            // The like is about to commit on the target: a second user
            // session takes the like back now, through its own connection.
            unliker = std::thread([&] {
                try {
                    auto other = double_write();
                    EXPECT_TRUE(InteractiveService(*other).unlike(7, id).changed);
                } catch (const std::exception& e) {
                    ADD_FAILURE() << "unlike: " << e.what();
                }
                std::lock_guard<std::mutex> lock(mu);
                unliked = true;
                cv.notify_all();
            });
            // Give it every chance to run to its end before this commit
            // (without the locks it does so in milliseconds); with them it
            // waits for this transaction.
            std::unique_lock<std::mutex> lock(mu);
            cv.wait_for(lock, std::chrono::seconds(1), [&] { return unliked; });
        });
        return target;
    };
    sides.target_engine = Engine::postgres;
    sides.control = [this] { return m_src.connect(); };
    {
        auto conn = make_double_write(std::move(sides), m_counters);
        EXPECT_TRUE(InteractiveService(*conn).like(7, id).changed);
    }
    ASSERT_TRUE(unliker.joinable());
    unliker.join();
    EXPECT_EQ(m_counters.second_side_failures.load(), 0u);
    expect_identical_sides();
    for (auto* db : {&m_src, &m_dst}) {
        auto conn = db->connect();
        EXPECT_EQ(count_where(*conn, "user_like_bizs", "status = 1"), 0) << engine_name(db->engine());
        expect_counters_match_records(*conn, {id});
    }
}

TEST_F(PlatformThroughDoubleWrite, ContendedMixedTrafficLeavesBothSidesIdenticalAndConsistent) {
    std::vector<std::int64_t> articles;
    {
        auto conn = double_write();
        for (int i = 0; i < 3; ++i) articles.push_back(ArticleService(*conn).publish(new_draft(1, "contended")).id);
    }
    mixed_traffic([this] { return double_write(); }, articles, 8, 80);
    EXPECT_EQ(m_counters.second_side_failures.load(), 0u);
    expect_identical_sides();
    expect_counters_match_records(*m_src.connect(), articles);
}

}  // namespace
}  // namespace webook
