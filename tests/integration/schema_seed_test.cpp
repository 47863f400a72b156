// The webook schema and the seeder against the real servers: init_schema is
// idempotent on both engines; the same seed options give the same rows on
// MariaDB and on PostgreSQL (so seeding is deterministic and the engines keep
// every value); seeding refuses to mix into existing rows and explains a
// missing schema; and the seeded data has the variety it promises (NULLs,
// 4-byte UTF-8, long content, weeks of timestamps, skewed likes, a ledger
// that adds up). Every test works in scratch databases of its own.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/db/value.h"
#include "core/migration/checkpoint.h"
#include "platform/ids.h"
#include "platform/schema.h"
#include "platform/seed.h"
#include "tests/support/cli_run.h"
#include "tests/support/scratch_db.h"

namespace webook {
namespace {

using testing::ScratchDatabase;

constexpr std::int64_t k_day_micros = 86'400'000'000LL;

// The tables seed_database fills (at least).
const std::vector<std::string> k_seeded_tables = {
    "users",   "articles", "published_articles", "interactives",       "user_like_bizs", "user_collection_bizs",
    "rewards", "payments", "accounts",           "account_activities", "outbox"};

SeedOptions small_seed() {
    SeedOptions o;
    o.users = 400;
    o.articles = 2000;
    o.interactives = 3000;  // 2000 articles + 1000 other bizes
    o.likes = 8000;
    o.collects = 2000;
    o.rewards = 400;
    o.seed = 7;
    o.base_time_micros = Value::parse(ValueKind::datetime, "2026-11-01 00:00:00").micros();
    return o;
}

const char* engine_label(Engine e) {
    return e == Engine::mysql ? "MariaDB" : "PostgreSQL";
}

std::vector<Row> stream_all(Connection& conn, const std::string& sql) {
    auto cursor = conn.stream(sql);
    std::vector<Row> rows, batch;
    while (cursor->next_batch(batch, 1000))
        for (auto& r : batch) rows.push_back(std::move(r));
    return rows;
}

// Every column of a webook table, ordered by its primary key.
std::string select_ordered(const Connection& conn, const std::string& table) {
    const TableDef* def = find_table_def(table);
    if (def == nullptr) throw std::runtime_error("no table definition for " + table);
    std::vector<std::string> columns;
    for (const auto& c : def->columns) columns.push_back(c.name);
    const Dialect& d = conn.dialect();
    return "SELECT " + d.quote_list(columns) + " FROM " + d.quote(table) + " ORDER BY " +
           d.quote_list(def->primary_key);
}

std::int64_t scalar(Connection& conn, const std::string& sql) {
    auto row = conn.query_one(sql);
    if (!row || row->empty() || row->at(0).is_null()) throw std::runtime_error("no value from: " + sql);
    return row->at(0).as_int();
}

std::string show(const Row& row) {
    std::string out = "(";
    for (const auto& v : row) {
        std::string d = v.display();
        if (d.size() > 60) d = d.substr(0, 60) + "...";
        out += (out.size() > 1 ? ", " : "") + d;
    }
    return out + ")";
}

std::map<std::string, std::int64_t> as_map(const std::vector<TableCount>& counts) {
    std::map<std::string, std::int64_t> out;
    for (const auto& c : counts) out[c.table] = c.rows;
    return out;
}

template <typename Fn>
Error error_from(Fn&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "no webook::Error thrown";
    return Error(Code::internal, "none");
}

void expect_init_is_idempotent(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "schema");
    auto conn = db.connect();
    const auto& tables = webook_tables();

    InitResult first = init_schema(*conn);
    EXPECT_EQ(first.created.size(), tables.size());
    EXPECT_TRUE(first.existing.empty());
    for (const auto& t : tables) EXPECT_TRUE(conn->table_exists(t.name)) << t.name;

    // A row written between the runs must survive the second one.
    conn->execute("INSERT INTO " + conn->dialect().quote("jobs") +
                  " (name, version, ctime, utime) VALUES ('ranking', 3, '2026-11-01 00:00:00', '2026-11-01 00:00:00')");

    InitResult second;
    ASSERT_NO_THROW(second = init_schema(*conn));
    EXPECT_TRUE(second.created.empty());
    EXPECT_EQ(second.existing.size(), tables.size());
    std::vector<std::string> names;
    for (const auto& t : tables) names.push_back(t.name);
    EXPECT_EQ(second.existing, names);
    EXPECT_EQ(scalar(*conn, "SELECT COUNT(*) FROM " + conn->dialect().quote("jobs")), 1);

    // A third run from a fresh connection changes nothing either.
    auto again = db.connect();
    InitResult third = init_schema(*again);
    EXPECT_TRUE(third.created.empty());
    EXPECT_EQ(third.existing.size(), tables.size());
}

TEST(SchemaSeed, InitSchemaIsIdempotentOnMariaDb) {
    expect_init_is_idempotent(Engine::mysql);
}

TEST(SchemaSeed, InitSchemaIsIdempotentOnPostgres) {
    expect_init_is_idempotent(Engine::postgres);
}

// A scratch database on each engine with the schema, seeded the same way.
class SchemaSeedBothEngines : public ::testing::Test {
protected:
    SchemaSeedBothEngines() : m_mysql_db(Engine::mysql, "seed"), m_pg_db(Engine::postgres, "seed") {
        m_mysql = m_mysql_db.connect();
        m_pg = m_pg_db.connect();
        init_schema(*m_mysql);
        init_schema(*m_pg);
        m_mysql_result = seed_database(*m_mysql, small_seed());
        m_pg_result = seed_database(*m_pg, small_seed());
    }

    ScratchDatabase m_mysql_db;
    ScratchDatabase m_pg_db;
    std::unique_ptr<Connection> m_mysql;
    std::unique_ptr<Connection> m_pg;
    SeedResult m_mysql_result;
    SeedResult m_pg_result;
};

TEST_F(SchemaSeedBothEngines, SameOptionsGiveTheSameRowsOnBothEngines) {
    // The same counts, reported and counted.
    const auto reported_mysql = as_map(m_mysql_result.inserted);
    const auto reported_pg = as_map(m_pg_result.inserted);
    EXPECT_EQ(reported_mysql, reported_pg);
    const auto counted_mysql = as_map(count_rows(*m_mysql));
    const auto counted_pg = as_map(count_rows(*m_pg));
    EXPECT_EQ(counted_mysql, counted_pg);
    const SeedOptions o = small_seed();
    EXPECT_EQ(counted_mysql.at("users"), o.users);
    EXPECT_EQ(counted_mysql.at("articles"), o.articles);
    EXPECT_EQ(counted_mysql.at("interactives"), o.interactives);
    EXPECT_EQ(counted_mysql.at("user_like_bizs"), o.likes);
    EXPECT_EQ(counted_mysql.at("user_collection_bizs"), o.collects);
    EXPECT_EQ(counted_mysql.at("rewards"), o.rewards);
    EXPECT_EQ(counted_mysql.at("payments"), o.rewards);

    // Row by row, every column, every seeded table.
    for (const auto& table : k_seeded_tables)
        EXPECT_GT(reported_mysql.count(table) ? reported_mysql.at(table) : 0, 0) << table << ": nothing seeded";
    for (const auto& [table, reported] : reported_mysql) {
        SCOPED_TRACE(table);
        EXPECT_EQ(reported, counted_mysql.at(table));
        const auto mysql = stream_all(*m_mysql, select_ordered(*m_mysql, table));
        const auto pg = stream_all(*m_pg, select_ordered(*m_pg, table));
        ASSERT_EQ(mysql.size(), pg.size());
        ASSERT_EQ(static_cast<std::int64_t>(mysql.size()), counted_mysql.at(table));
        int differing = 0;
        for (std::size_t i = 0; i < mysql.size() && differing < 3; ++i) {
            if (same_row(mysql[i], pg[i])) continue;
            ++differing;
            ADD_FAILURE() << table << " row " << i << " differs:\n mariadb:    " << show(mysql[i])
                          << "\n postgresql: " << show(pg[i]);
        }
    }
}

// The counters the platform keeps agree with its records, as in a live
// webook: an article's like_cnt and collect_cnt are its active likes and
// collections; the other bizes have none.
TEST_F(SchemaSeedBothEngines, CountersAgreeWithTheLikeAndCollectRecords) {
    for (Connection* conn : {m_mysql.get(), m_pg.get()}) {
        SCOPED_TRACE(engine_label(conn->dialect().engine()));
        for (auto [counter, table] :
             {std::pair{"like_cnt", "user_like_bizs"}, {"collect_cnt", "user_collection_bizs"}}) {
            SCOPED_TRACE(counter);
            EXPECT_EQ(
                scalar(*conn, fmt::format("SELECT COUNT(*) FROM interactives i WHERE i.{} <> (SELECT COUNT(*) "
                                          "FROM {} r WHERE r.biz = i.biz AND r.biz_id = i.biz_id AND r.status = 1)",
                                          counter, table)),
                0);
            EXPECT_GT(scalar(*conn, fmt::format("SELECT COUNT(*) FROM interactives WHERE {} > 0", counter)), 100);
        }
        EXPECT_EQ(scalar(*conn, "SELECT COUNT(*) FROM interactives WHERE read_cnt < like_cnt + collect_cnt"), 0);
    }
}

// Ids are the platform's snowflakes (platform/ids.h) of when each row was
// made, in every table the platform writes, so a time range of ids (ops
// reconcile --from 7d) finds the seeded rewards as it finds real ones.
TEST_F(SchemaSeedBothEngines, EveryTableThePlatformWritesHasSnowflakeIdsOfItsRowsTime) {
    for (Connection* conn : {m_mysql.get(), m_pg.get()}) {
        SCOPED_TRACE(engine_label(conn->dialect().engine()));
        for (const char* table : {"articles", "published_articles", "interactives", "user_like_bizs",
                                  "user_collection_bizs", "rewards", "payments", "account_activities", "outbox"}) {
            SCOPED_TRACE(table);
            const auto rows = conn->query(fmt::format("SELECT id, ctime FROM {}", table));
            ASSERT_FALSE(rows.empty());
            for (const Row& r : rows) {
                const IdParts parts = IdGenerator::decode(r[0].as_int());
                ASSERT_EQ(parts.millis_since_epoch, r[1].micros() / 1000 - IdGenerator::k_epoch_millis)
                    << "id " << r[0].as_int();
            }
        }
        std::set<std::int64_t> rewards;
        for (const Row& r : conn->query("SELECT id FROM rewards")) rewards.insert(r[0].as_int());
        std::size_t named = 0;
        for (const Row& p : conn->query("SELECT biz_id, biz_trade_no FROM payments")) {
            EXPECT_TRUE(rewards.contains(p[0].as_int())) << p[0].as_int();
            EXPECT_EQ(std::string(p[1].as_string()), "reward-" + std::to_string(p[0].as_int()));
            ++named;
        }
        EXPECT_EQ(named, rewards.size()) << "one payment per reward";
    }
}

// What the snowflakes are for: reconciling the last week of a freshly
// seeded database reads the seeded rewards of that week, and finds them clean.
TEST(SchemaSeed, ReconcilingTheLastWeekOfASeededDatabaseReadsItsRewardsAndFindsThemClean) {
    ScratchDatabase db(Engine::mysql, "seedrec");
    auto conn = db.connect();
    init_schema(*conn);
    SeedOptions o = small_seed();
    o.base_time_micros = 0;  // this hour: the last week holds about an eighth of the rewards
    seed_database(*conn, o);
    const testing::CommandResult r =
        testing::webookctl({"--output", "json", "ops", "reconcile", "--dsn", db.url(), "--from", "7d"});
    ASSERT_EQ(r.exit_code, 0) << testing::describe(r);
    const auto summary = testing::last_json(r);
    EXPECT_EQ(summary.at("mismatches"), 0) << r.out;
    EXPECT_GT(summary.at("rewards").get<int>(), o.rewards / 16) << r.out;
    EXPECT_LT(summary.at("rewards").get<int>(), o.rewards / 4) << r.out;
}

TEST_F(SchemaSeedBothEngines, SeededDataHasThePromisedVariety) {
    const SeedOptions o = small_seed();
    for (Connection* conn : {m_mysql.get(), m_pg.get()}) {
        SCOPED_TRACE(engine_label(conn->dialect().engine()));

        // Some NULL emails, but not all.
        const std::int64_t null_emails = scalar(*conn, "SELECT COUNT(*) FROM users WHERE email IS NULL");
        EXPECT_GT(null_emails, 0);
        EXPECT_LT(null_emails, o.users);
        // Empty about_me is not NULL about_me: both occur.
        EXPECT_GT(scalar(*conn, "SELECT COUNT(*) FROM users WHERE about_me IS NULL"), 0);
        EXPECT_GT(scalar(*conn, "SELECT COUNT(*) FROM users WHERE about_me = ''"), 0);

        // Titles with 4-byte UTF-8 (a lead byte 0xF0..0xF4), and long content.
        std::int64_t four_byte_titles = 0, long_contents = 0;
        std::size_t longest = 0;
        for (const Row& r : stream_all(*conn, "SELECT title, content FROM articles ORDER BY id")) {
            const auto title = r.at(0).as_string();
            if (std::any_of(title.begin(), title.end(), [](char c) { return static_cast<unsigned char>(c) >= 0xF0; }))
                ++four_byte_titles;
            const std::size_t size = r.at(1).as_string().size();
            longest = std::max(longest, size);
            if (size > 40 * 1024) ++long_contents;
        }
        EXPECT_GT(four_byte_titles, 0);
        EXPECT_GT(long_contents, 0) << "longest content: " << longest << " bytes";

        // Timestamps spread over more than four weeks.
        for (const char* table : {"articles", "interactives", "user_like_bizs"}) {
            const auto span = stream_all(*conn, std::string("SELECT MIN(ctime), MAX(ctime) FROM ") + table);
            const std::int64_t weeks4 = 28 * k_day_micros;
            EXPECT_GT(span.at(0).at(1).micros() - span.at(0).at(0).micros(), weeks4) << table;
        }
        // Microseconds are used, not just whole seconds.
        std::int64_t fractional = 0;
        for (const Row& r : stream_all(*conn, "SELECT utime FROM interactives ORDER BY id"))
            if (r.at(0).micros() % 1'000'000 != 0) ++fractional;
        EXPECT_GT(fractional, 0);

        // Likes are skewed: the top 1% of articles hold a large share.
        const auto per_article = stream_all(
            *conn, "SELECT biz_id, COUNT(*) FROM user_like_bizs GROUP BY biz_id ORDER BY COUNT(*) DESC, biz_id");
        std::int64_t total = 0, top = 0;
        const std::size_t top_n = static_cast<std::size_t>(o.articles / 100);
        for (std::size_t i = 0; i < per_article.size(); ++i) {
            const std::int64_t n = per_article[i].at(1).as_int();
            total += n;
            if (i < top_n) top += n;
        }
        ASSERT_EQ(total, o.likes);
        // An even spread would give the top 1% about 1% of the likes.
        EXPECT_GT(top * 100, total * 20) << "top " << top_n << " articles hold " << top << " of " << total << " likes";
        // interactives.like_cnt too.
        std::vector<std::int64_t> like_cnt;
        for (const Row& r : stream_all(*conn, "SELECT like_cnt FROM interactives WHERE biz = 'article'"))
            like_cnt.push_back(r.at(0).as_int());
        std::sort(like_cnt.rbegin(), like_cnt.rend());
        std::int64_t cnt_total = 0, cnt_top = 0;
        for (std::size_t i = 0; i < like_cnt.size(); ++i) {
            cnt_total += like_cnt[i];
            if (i < top_n) cnt_top += like_cnt[i];
        }
        EXPECT_GT(cnt_top * 100, cnt_total * 10)
            << "top " << top_n << " articles hold " << cnt_top << " of " << cnt_total << " like_cnt";

        // The ledger adds up: each balance is the sum of its account's entries.
        const auto ledger =
            stream_all(*conn,
                       "SELECT a.id, a.balance, COALESCE(SUM(x.amount), 0) FROM accounts a "
                       "LEFT JOIN account_activities x ON x.account_id = a.id GROUP BY a.id, a.balance ORDER BY a.id");
        ASSERT_GT(ledger.size(), 1u);
        for (const Row& r : ledger) EXPECT_EQ(r.at(1).as_int(), r.at(2).as_int()) << "account " << r.at(0).as_int();
        // No entry points at an account that does not exist.
        EXPECT_EQ(scalar(*conn,
                         "SELECT COUNT(*) FROM account_activities x LEFT JOIN accounts a "
                         "ON a.id = x.account_id WHERE a.id IS NULL"),
                  0);
        // Every paid reward is booked: the ledger total is what was paid.
        EXPECT_EQ(scalar(*conn, "SELECT COALESCE(SUM(amount), 0) FROM rewards WHERE status = 1"),
                  scalar(*conn, "SELECT COALESCE(SUM(amount), 0) FROM account_activities"));
    }
}

void expect_non_empty_tables_are_refused(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "reseed");
    auto conn = db.connect();
    init_schema(*conn);
    SeedOptions o = small_seed();
    o.users = 50;
    o.articles = 100;
    o.interactives = 0;
    o.likes = 300;
    o.collects = 100;
    o.rewards = 40;
    const auto seeded = as_map(seed_database(*conn, o).inserted);

    // Seeding again is refused, names the table, and changes nothing.
    Error e = error_from([&] { seed_database(*conn, o); });
    EXPECT_EQ(e.code(), Code::usage) << e.what();
    EXPECT_NE(std::string(e.what()).find("users"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("--truncate"), std::string::npos) << e.what();
    auto counts = as_map(count_rows(*conn));
    for (const auto& [table, rows] : seeded) EXPECT_EQ(counts.at(table), rows) << table;

    // With Truncate::yes the rows are replaced by the same rows.
    o.truncate = Truncate::yes;
    const auto reseeded = as_map(seed_database(*conn, o).inserted);
    EXPECT_EQ(reseeded, seeded);
    counts = as_map(count_rows(*conn));
    for (const auto& [table, rows] : seeded) EXPECT_EQ(counts.at(table), rows) << table;
    // New rows after a reseed get fresh ids (the identity moved past the seeded ones).
    ASSERT_NO_THROW(
        conn->execute("INSERT INTO users (nickname, credit_score, ctime, utime) "
                      "VALUES ('new', 1.00, '2026-11-01 00:00:00', '2026-11-01 00:00:00')"));
}

TEST(SchemaSeed, SeedingNonEmptyTablesIsRefusedUnlessTruncateOnMariaDb) {
    expect_non_empty_tables_are_refused(Engine::mysql);
}

TEST(SchemaSeed, SeedingNonEmptyTablesIsRefusedUnlessTruncateOnPostgres) {
    expect_non_empty_tables_are_refused(Engine::postgres);
}

// One row in the last seeded table is enough to refuse, before anything is written.
void expect_refusal_writes_nothing(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "reseed");
    auto conn = db.connect();
    init_schema(*conn);
    conn->execute(
        "INSERT INTO outbox (topic, msg_key, payload, status, attempts, next_attempt_at, ctime, utime) "
        "VALUES ('t', 'k', '{}', 0, 0, '2026-11-01 00:00:00', '2026-11-01 00:00:00', "
        "'2026-11-01 00:00:00')");
    Error e = error_from([&] { seed_database(*conn, small_seed()); });
    EXPECT_EQ(e.code(), Code::usage) << e.what();
    EXPECT_NE(std::string(e.what()).find("outbox"), std::string::npos) << e.what();
    for (const auto& [table, rows] : as_map(count_rows(*conn))) EXPECT_EQ(rows, table == "outbox" ? 1 : 0) << table;
}

TEST(SchemaSeed, RefusedSeedWritesNothingOnMariaDb) {
    expect_refusal_writes_nothing(Engine::mysql);
}

TEST(SchemaSeed, RefusedSeedWritesNothingOnPostgres) {
    expect_refusal_writes_nothing(Engine::postgres);
}

void expect_missing_schema_names_db_init(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "noschema");
    auto conn = db.connect();
    Error e = error_from([&] { seed_database(*conn, small_seed()); });
    EXPECT_EQ(e.code(), Code::config) << e.what();
    const std::string message = e.what();
    EXPECT_NE(message.find("db init"), std::string::npos) << message;
    EXPECT_NE(message.find("users"), std::string::npos) << message;
    EXPECT_NE(message.find(db.name()), std::string::npos) << "names the database: " << message;
    EXPECT_FALSE(conn->table_exists("users")) << "seeding must not create tables";
}

TEST(SchemaSeed, SeedWithoutTheSchemaSaysRunDbInitOnMariaDb) {
    expect_missing_schema_names_db_init(Engine::mysql);
}

TEST(SchemaSeed, SeedWithoutTheSchemaSaysRunDbInitOnPostgres) {
    expect_missing_schema_names_db_init(Engine::postgres);
}

// Sharded runs starting on several hosts at once all create the control
// tables on first use; PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe
// against a concurrent one, so the loser must take the winner's table.
void expect_concurrent_first_uses_succeed(Engine engine) {
    for (int round = 0; round < 4; ++round) {
        ScratchDatabase db(engine, "ctlrace");
        std::vector<std::unique_ptr<Connection>> conns;
        for (int i = 0; i < 6; ++i) conns.push_back(db.connect());
        std::vector<std::string> errors(conns.size());
        std::vector<std::thread> threads;
        for (std::size_t i = 0; i < conns.size(); ++i)
            threads.emplace_back([&, i] {
                try {
                    CheckpointStore(*conns[i]).ensure_tables();
                } catch (const Error& e) {
                    errors[i] = e.what();
                }
            });
        for (auto& t : threads) t.join();
        for (const auto& e : errors) EXPECT_EQ(e, "") << "round " << round;
        EXPECT_TRUE(conns[0]->table_exists(k_checkpoint_table));
    }
}

TEST(ControlTables, ConcurrentFirstUsesAllSucceedOnMariaDb) {
    expect_concurrent_first_uses_succeed(Engine::mysql);
}
TEST(ControlTables, ConcurrentFirstUsesAllSucceedOnPostgres) {
    expect_concurrent_first_uses_succeed(Engine::postgres);
}

}  // namespace
}  // namespace webook
