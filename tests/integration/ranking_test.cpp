// The hot ranking and the job lease against the real servers, on both
// engines, each test in scratch databases of its own:
//   - the ranking equals one SQL query computing the same formula inside the
//     database (ids in order, scores within 1e-9 relative), ties and the
//     window's edges included;
//   - two concurrent `webookctl ops rank recompute` runs compute once: the
//     second names the holder and exits 0;
//   - a stale lease (lease_until passed, another owner) is taken over, and
//     the old holder can then neither renew nor release;
//   - renewing as a non-owner (or with a stale version) fails and writes
//     nothing;
//   - a reader looping while recomputes publish always sees one complete
//     published version, never a mix or a half;
//   - an unknown job name is a usage error (exit 2, one line).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/db/value.h"
#include "core/migration/throttle.h"
#include "platform/job_lease.h"
#include "platform/ranking.h"
#include "platform/schema.h"
#include "platform/seed.h"
#include "tests/support/child_process.h"
#include "tests/support/manual_clock.h"
#include "tests/support/scratch_db.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::CommandResult;
using testing::ScratchDatabase;

constexpr std::int64_t k_hour = 3'600'000'000LL;
constexpr std::int64_t k_day = 24 * k_hour;
const char* const k_now_text = "2026-11-01 00:00:00";

std::int64_t at(const char* text) {
    return Value::parse(ValueKind::datetime, text).micros();
}
const std::int64_t k_now = at(k_now_text);

const char* engine_label(Engine e) {
    return e == Engine::mysql ? "MariaDB" : "PostgreSQL";
}

// A scratch database with the schema and seeded articles: 8000 articles over
// eight weeks before k_now, so about 700 published in the 7-day window.
std::unique_ptr<Connection> seeded(const ScratchDatabase& db, std::int64_t articles = 8000) {
    auto conn = db.connect();
    init_schema(*conn);
    SeedOptions seed;
    seed.users = 300;
    seed.articles = articles;
    seed.likes = 0;
    seed.collects = 0;
    seed.rewards = 0;
    seed.seed = 11;
    seed.base_time_micros = k_now;
    seed_database(*conn, seed);
    return conn;
}

RankOptions options_at_now(std::size_t top, std::size_t batch) {
    RankOptions o;
    o.top = top;
    o.batch_size = batch;
    o.now_micros = k_now;
    return o;
}

// Rows the seeder cannot produce: exact ties, the window's edges, excluded
// statuses, an article without an interactives row.
void plant_edge_cases(Connection& conn) {
    const Dialect& d = conn.dialect();
    auto article = [&](std::int64_t id, int status, std::int64_t ctime) {
        const Value row[] = {Value::integer(id),           Value::text(fmt::format("edge {}", id)),
                             Value::text("body"),          Value::integer(7),
                             Value::integer(status),       Value::datetime_micros(ctime),
                             Value::datetime_micros(ctime)};
        conn.execute("INSERT INTO " + d.quote("published_articles") +
                         " (id, title, content, author_id, status, ctime, utime) VALUES " + d.placeholders(1, 7),
                     row);
    };
    auto likes = [&](std::int64_t row_id, std::int64_t biz_id, std::int64_t like_cnt, const char* biz = "article") {
        const Value row[] = {Value::integer(row_id),        Value::text(biz),
                             Value::integer(biz_id),        Value::integer(like_cnt),
                             Value::datetime_micros(k_now), Value::datetime_micros(k_now)};
        conn.execute("INSERT INTO " + d.quote("interactives") + " (id, biz, biz_id, like_cnt, ctime, utime) VALUES " +
                         d.placeholders(1, 6),
                     row);
    };
    // Five exact ties near the top: same likes, same publish time; ids decide.
    for (std::int64_t id : {900'005, 900'001, 900'003, 900'002, 900'004}) {
        article(id, 2, k_now - 3 * k_hour);
        likes(id, id, 20'000'000);
    }
    // Hugely liked but withdrawn (status 3): never ranked.
    article(900'010, 3, k_now - k_hour);
    likes(900'010, 900'010, 90'000'000);
    // On the window's edges: exactly now - 7d is in, a microsecond earlier is out.
    article(900'020, 2, k_now - 7 * k_day);
    likes(900'020, 900'020, 80'000'000);
    article(900'021, 2, k_now - 7 * k_day - 1);
    likes(900'021, 900'021, 80'000'000);
    // Published after "now": outside the window.
    article(900'022, 2, k_now + k_hour);
    likes(900'022, 900'022, 80'000'000);
    // Likes of another biz with the same id do not count.
    article(900'030, 2, k_now - k_hour);
    likes(900'031, 900'030, 70'000'000, "video");
}

struct Expected {
    std::int64_t id;
    double score;
};

// The same ranking, computed by one SQL query inside the database.
std::vector<Expected> ranking_by_sql(Connection& conn, std::size_t top, double gravity, const std::string& from) {
    std::string hours = conn.dialect().engine() == Engine::mysql
                            ? fmt::format("TIMESTAMPDIFF(MICROSECOND, p.ctime, '{}') / 3600000000e0", k_now_text)
                            : fmt::format("EXTRACT(EPOCH FROM (TIMESTAMP '{}' - p.ctime))::float8 / 3600", k_now_text);
    std::string sql = fmt::format(
        "SELECT p.id, (COALESCE(i.like_cnt, 0) - 1) / POWER({0} + 2, {1}) AS score "
        "FROM published_articles p LEFT JOIN interactives i ON i.biz = 'article' AND i.biz_id = p.id "
        "WHERE p.status = 2 AND p.ctime >= '{2}' AND p.ctime <= '{3}' "
        "ORDER BY score DESC, p.id LIMIT {4}",
        hours, gravity, from, k_now_text, top);
    std::vector<Expected> out;
    for (const auto& row : conn.query(sql)) out.push_back({row.at(0).as_int(), row.at(1).as_double()});
    return out;
}

void expect_close(double expected, double actual, const std::string& what) {
    const double tolerance = 1e-9 * std::max(1.0, std::abs(expected));
    EXPECT_NEAR(expected, actual, tolerance) << what;
}

std::vector<std::int64_t> ids_of(const std::vector<RankedArticle>& items) {
    std::vector<std::int64_t> ids;
    for (const auto& a : items) ids.push_back(a.article_id);
    return ids;
}

// ---- the ranking itself ----------------------------------------------------

void expect_ranking_matches_sql(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "rank_sql");
    auto conn = seeded(db);
    plant_edge_cases(*conn);

    struct Case {
        double gravity;
        int window_days;  // 7: the default; 60: nearly every article, so batches are dense
        std::size_t batch;
        bool overlap;  // articles streamed on a second connection
    };
    const Case cases[] = {{1.5, 7, 97, false}, {0.8, 7, 97, true}, {1.5, 60, 500, true}, {1.8, 60, 64, false}};
    for (const Case& c : cases) {
        SCOPED_TRACE(
            fmt::format("gravity {}, window {}d, batch {}, overlap {}", c.gravity, c.window_days, c.batch, c.overlap));
        RankOptions options = options_at_now(60, c.batch);  // many batches, a partial last one
        options.gravity = c.gravity;
        options.window = std::chrono::hours(24 * c.window_days);
        if (c.overlap) options.scan_connection = [&db] { return db.connect(); };
        const std::string from = format_datetime(k_now - c.window_days * k_day);
        RecomputeResult r = recompute_hot_ranking(*conn, options);
        const auto expected = ranking_by_sql(*conn, 60, c.gravity, from);
        ASSERT_EQ(expected.size(), 60u);
        ASSERT_EQ(r.ranking.items.size(), expected.size());
        for (std::size_t i = 0; i < expected.size(); ++i) {
            const RankedArticle& got = r.ranking.items[i];
            EXPECT_EQ(got.position, static_cast<int>(i + 1));
            EXPECT_EQ(got.article_id, expected[i].id) << "position " << i + 1;
            expect_close(expected[i].score, got.score, fmt::format("score at position {}", i + 1));
        }
        // The ties, in id order, first; the withdrawn, future and other-biz
        // articles never; the window's edges exactly.
        const auto ids = ids_of(r.ranking.items);
        EXPECT_EQ(std::vector<std::int64_t>(ids.begin(), ids.begin() + 5),
                  (std::vector<std::int64_t>{900'001, 900'002, 900'003, 900'004, 900'005}));
        for (std::int64_t out : {900'010, 900'022, 900'030})
            EXPECT_EQ(std::find(ids.begin(), ids.end(), out), ids.end()) << out;
        EXPECT_NE(std::find(ids.begin(), ids.end(), 900'020), ids.end());
        if (c.window_days == 7) {
            EXPECT_EQ(std::find(ids.begin(), ids.end(), 900'021), ids.end());
        }
        EXPECT_EQ(r.ranking.items[0].title, "edge 900001");
        EXPECT_EQ(r.ranking.items[0].author_id, 7);
        EXPECT_EQ(r.ranking.items[0].like_cnt, 20'000'000);

        // Every published article in the window was scored.
        auto in_window = conn->query_one(
            fmt::format("SELECT COUNT(*) FROM published_articles WHERE status = 2 AND ctime >= '{}' AND ctime <= '{}'",
                        from, k_now_text));
        EXPECT_EQ(static_cast<std::int64_t>(r.stats.articles), in_window->at(0).as_int());

        // What show() reads back is what was published, all of it.
        auto shown = current_hot_ranking(*conn, 0);
        ASSERT_TRUE(shown.has_value());
        EXPECT_EQ(shown->version, r.ranking.version);
        EXPECT_EQ(shown->computed_at_micros, k_now);
        ASSERT_EQ(shown->items.size(), r.ranking.items.size());
        for (std::size_t i = 0; i < shown->items.size(); ++i) {
            EXPECT_EQ(shown->items[i].article_id, r.ranking.items[i].article_id);
            EXPECT_EQ(shown->items[i].title, r.ranking.items[i].title);
            EXPECT_EQ(shown->items[i].like_cnt, r.ranking.items[i].like_cnt);
            EXPECT_EQ(shown->items[i].ctime_micros, r.ranking.items[i].ctime_micros);
            expect_close(r.ranking.items[i].score, shown->items[i].score, "stored score");
        }
        EXPECT_EQ(current_hot_ranking(*conn, 3)->items.size(), 3u);
    }
    // Two versions kept at most: the current one and the one it replaced.
    auto versions = conn->query_one("SELECT COUNT(DISTINCT version) FROM ranking_items");
    EXPECT_EQ(versions->at(0).as_int(), 2);
}

TEST(Ranking, EqualsTheSqlFormulaOnMariaDB) {
    expect_ranking_matches_sql(Engine::mysql);
}
TEST(Ranking, EqualsTheSqlFormulaOnPostgres) {
    expect_ranking_matches_sql(Engine::postgres);
}

void expect_versions_replace(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "rank_versions");
    auto conn = seeded(db, 2000);
    EXPECT_FALSE(current_hot_ranking(*conn, 0).has_value());
    std::int64_t last = 0;
    for (int run = 0; run < 4; ++run) {
        RecomputeResult r = recompute_hot_ranking(*conn, options_at_now(10 + static_cast<std::size_t>(run), 500));
        EXPECT_EQ(r.ranking.version, last + 1);
        last = r.ranking.version;
        EXPECT_EQ(current_hot_ranking(*conn, 0)->items.size(), 10u + static_cast<std::size_t>(run));
    }
    // A window with no articles publishes an empty ranking, which show() tells apart from none.
    RankOptions empty = options_at_now(10, 500);
    empty.now_micros = k_now - 400 * k_day;
    RecomputeResult r = recompute_hot_ranking(*conn, empty);
    EXPECT_TRUE(r.ranking.items.empty());
    auto shown = current_hot_ranking(*conn, 0);
    ASSERT_TRUE(shown.has_value());
    EXPECT_EQ(shown->version, last + 1);
    EXPECT_TRUE(shown->items.empty());
}

TEST(Ranking, EachRecomputeIsANewVersionOnMariaDB) {
    expect_versions_replace(Engine::mysql);
}
TEST(Ranking, EachRecomputeIsANewVersionOnPostgres) {
    expect_versions_replace(Engine::postgres);
}

// ---- readers during recompute ---------------------------------------------

void expect_readers_see_complete_rankings(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "rank_readers");
    auto conn = seeded(db, 12000);      // about 1000 articles in the window
    constexpr std::size_t k_top = 600;  // several INSERT statements per publish
    recompute_hot_ranking(*conn, options_at_now(k_top, 1000));

    struct Seen {
        std::int64_t version;
        std::vector<std::int64_t> ids;
    };
    std::atomic<bool> stop{false};
    std::vector<Seen> seen;
    std::string reader_error;
    std::thread reader([&] {
        try {
            auto rconn = db.connect();
            while (!stop.load()) {
                auto r = current_hot_ranking(*rconn, 0);
                if (r) seen.push_back({r->version, ids_of(r->items)});
            }
        } catch (const std::exception& e) {
            reader_error = e.what();
        }
    });
    // Each run ranks differently (gravity changes), so a mix would show.
    std::map<std::int64_t, std::vector<std::int64_t>> published;
    if (auto first = current_hot_ranking(*conn, 0)) published[first->version] = ids_of(first->items);
    for (int run = 0; run < 12; ++run) {
        RankOptions o = options_at_now(k_top, 1000);
        o.gravity = 0.5 + 0.25 * run;
        RecomputeResult r = recompute_hot_ranking(*conn, o);
        published[r.ranking.version] = ids_of(r.ranking.items);
    }
    stop = true;
    reader.join();
    ASSERT_EQ(reader_error, "");
    ASSERT_GT(seen.size(), 12u);
    std::size_t versions_seen = 0;
    std::int64_t last = 0;
    for (const auto& s : seen) {
        ASSERT_EQ(s.ids.size(), k_top) << "version " << s.version << " seen incomplete";
        auto it = published.find(s.version);
        ASSERT_NE(it, published.end()) << "version " << s.version << " was never published";
        ASSERT_EQ(s.ids, it->second) << "version " << s.version << " seen with other rows than published";
        EXPECT_GE(s.version, last) << "a reader went back to an older version";
        if (s.version != last) ++versions_seen;
        last = s.version;
    }
    EXPECT_GT(versions_seen, 1u) << "the reader never overlapped a publish";
}

TEST(Ranking, ReadersSeeOnlyCompleteRankingsOnMariaDB) {
    expect_readers_see_complete_rankings(Engine::mysql);
}
TEST(Ranking, ReadersSeeOnlyCompleteRankingsOnPostgres) {
    expect_readers_see_complete_rankings(Engine::postgres);
}

// ---- the lease --------------------------------------------------------------

void expect_lease_rules(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "rank_lease");
    auto conn = db.connect();
    init_schema(*conn);
    testing::ManualClock time(k_now);  // moved by hand
    JobLeases leases(*conn, &time);
    const std::string job(k_rank_hot_job);

    // First use creates the row and takes it.
    AcquireResult a = leases.try_acquire(job, "host-a", 10s);
    ASSERT_TRUE(a.acquired());
    Lease lease_a = *a.lease;
    EXPECT_EQ(lease_a.until_micros, k_now + 10'000'000);

    // While it runs, another host learns who holds it and until when.
    time.advance(std::chrono::microseconds(5'000'000));
    AcquireResult b = leases.try_acquire(job, "host-b", 10s);
    EXPECT_FALSE(b.acquired());
    EXPECT_EQ(b.holder, "host-a");
    EXPECT_EQ(b.holder_until_micros, k_now + 10'000'000);

    // The holder renews: the lease moves on, the version with it.
    const std::int64_t version_before = lease_a.version;
    ASSERT_TRUE(leases.renew(lease_a));
    EXPECT_EQ(lease_a.version, version_before + 1);
    EXPECT_EQ(lease_a.until_micros, time.wall_micros() + 10'000'000);

    // Renewing as someone else, or with a stale version, fails and changes nothing.
    Lease impostor = lease_a;
    impostor.owner = "host-b";
    EXPECT_FALSE(leases.renew(impostor));
    Lease stale = lease_a;
    stale.version -= 1;
    EXPECT_FALSE(leases.renew(stale));
    EXPECT_FALSE(leases.release(impostor));
    auto state = leases.get(job);
    ASSERT_TRUE(state.has_value());
    EXPECT_EQ(state->owner, "host-a");
    EXPECT_EQ(state->version, lease_a.version);
    EXPECT_EQ(state->until_micros, lease_a.until_micros);

    // host-a stops renewing; once the lease passed, host-b takes over.
    time.set_wall(lease_a.until_micros + 1);
    AcquireResult taken = leases.try_acquire(job, "host-b", 10s);
    ASSERT_TRUE(taken.acquired());
    EXPECT_GT(taken.lease->version, lease_a.version);
    // The old holder can neither renew nor release nor pass the fence.
    EXPECT_FALSE(leases.renew(lease_a));
    EXPECT_FALSE(leases.release(lease_a));
    {
        Transaction tx(*conn);
        EXPECT_FALSE(leases.lock_if_held(lease_a));
        EXPECT_TRUE(leases.lock_if_held(*taken.lease));
    }
    // A process that reuses host-a's name cannot either: the version moved.
    Lease same_name = lease_a;
    same_name.version = taken.lease->version;
    EXPECT_FALSE(leases.renew(same_name));

    // Released: free for anyone, and the run is recorded.
    ASSERT_TRUE(leases.release(*taken.lease, RunCompleted::yes));
    state = leases.get(job);
    EXPECT_FALSE(state->owner.has_value());
    EXPECT_EQ(state->last_run_micros, time.wall_micros());
    AcquireResult again = leases.try_acquire(job, "host-c", 10s);
    EXPECT_TRUE(again.acquired());
    EXPECT_EQ(leases.list().size(), 1u);

    EXPECT_THROW(check_job_name("rank-cold"), Error);
    EXPECT_NO_THROW(check_job_name(k_rank_hot_job));
}

TEST(JobLease, TakeRenewReleaseAndTakeOverOnMariaDB) {
    expect_lease_rules(Engine::mysql);
}
TEST(JobLease, TakeRenewReleaseAndTakeOverOnPostgres) {
    expect_lease_rules(Engine::postgres);
}

// Many contenders for a free job at the same instant: exactly one wins.
void expect_one_winner(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "rank_race");
    init_schema(*db.connect());
    constexpr int k_contenders = 6;
    std::atomic<int> ready{0};
    std::atomic<int> winners{0};
    std::vector<std::string> errors(k_contenders);
    std::vector<std::thread> threads;
    for (int i = 0; i < k_contenders; ++i)
        threads.emplace_back([&, i] {
            try {
                auto c = db.connect();
                JobLeases leases(*c);
                ++ready;
                while (ready.load() < k_contenders) std::this_thread::yield();
                if (leases.try_acquire(k_rank_hot_job, fmt::format("host-{}", i), 30s).acquired()) ++winners;
            } catch (const std::exception& e) {
                errors[static_cast<std::size_t>(i)] = e.what();
            }
        });
    for (auto& t : threads) t.join();
    for (const auto& e : errors) EXPECT_EQ(e, "");
    EXPECT_EQ(winners.load(), 1);
}

TEST(JobLease, OneOfManyContendersWinsOnMariaDB) {
    expect_one_winner(Engine::mysql);
}
TEST(JobLease, OneOfManyContendersWinsOnPostgres) {
    expect_one_winner(Engine::postgres);
}

// A job that loses its lease part-way publishes nothing: caught at the next
// renewal, or -- when no renewal was due -- by the fence in the publishing
// transaction.
class TakeOverClock final : public Clock {
public:
    TakeOverClock(std::function<void()> take_over, bool advance)
        : m_take_over(std::move(take_over)), m_advance(advance) {}
    std::chrono::steady_clock::time_point now() override {
        if (!m_taken) {
            m_taken = true;
            m_take_over();  // another host takes the job over, right now
        }
        if (m_advance) m_now += std::chrono::hours(1);  // every check finds a renewal due
        return m_now;
    }
    void sleep_for(std::chrono::microseconds) override {}
    std::int64_t wall_micros() override { return k_now; }  // our lease times

private:
    std::function<void()> m_take_over;
    bool m_advance;
    bool m_taken = false;
    std::chrono::steady_clock::time_point m_now{};
};

void expect_lost_lease_publishes_nothing(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "rank_lost");
    auto conn = seeded(db, 3000);
    for (bool caught_by_renewal : {true, false}) {
        SCOPED_TRACE(caught_by_renewal ? "caught by the renewal" : "caught by the fence");
        auto other = db.connect();
        testing::ManualClock later(k_now + 24 * k_hour);  // the usurper's clock: our lease has long passed
        JobLeases usurper(*other, &later);
        TakeOverClock clock([&] { ASSERT_TRUE(usurper.try_acquire(k_rank_hot_job, "usurper", 60s).acquired()); },
                            caught_by_renewal);
        RankJobOptions options;
        options.rank = options_at_now(10, 200);
        options.owner = "slow-host";
        options.clock = &clock;
        try {
            run_hot_ranking_job(*conn, options);
            ADD_FAILURE() << "the job finished although it lost its lease";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Code::server);
            EXPECT_NE(std::string(e.what()).find("lost the rank-hot lease to usurper"), std::string::npos) << e.what();
        }
        EXPECT_FALSE(current_hot_ranking(*conn, 0).has_value()) << "nothing may be published";
        EXPECT_EQ(JobLeases(*conn).get(k_rank_hot_job)->owner, "usurper") << "the winner keeps the job";
        other->execute("UPDATE jobs SET owner = NULL, lease_until = NULL");
    }
}

TEST(RankJob, LostLeasePublishesNothingOnMariaDB) {
    expect_lost_lease_publishes_nothing(Engine::mysql);
}
TEST(RankJob, LostLeasePublishesNothingOnPostgres) {
    expect_lost_lease_publishes_nothing(Engine::postgres);
}

// ---- the CLI ----------------------------------------------------------------

std::vector<std::string> cli(std::vector<std::string> args) {
    args.insert(args.begin(), WEBOOKCTL_BINARY);
    return args;
}

std::int64_t hot_version(Connection& conn) {
    auto row = conn.query_one("SELECT version FROM ranking_current WHERE name = 'hot'");
    return row ? row->at(0).as_int() : 0;
}

void expect_concurrent_runs_compute_once(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "rank_cli");
    auto conn = seeded(db, 3000);
    const Dialect& d = conn->dialect();

    CommandResult first =
        testing::run_command(cli({"ops", "rank", "recompute", "--dsn", db.url(), "--top", "20", "--now", k_now_text}));
    ASSERT_EQ(first.exit_code, 0) << first.err;
    EXPECT_NE(first.out.find("hot ranking version 1 published: top 20"), std::string::npos) << first.out;
    ASSERT_EQ(hot_version(*conn), 1);

    // Hold the ranking pointer so run A, once it has the lease and has
    // computed, waits at its publish: the two runs overlap for sure.
    auto blocker = db.connect();
    blocker->begin();
    blocker->query("SELECT version FROM ranking_current WHERE name = 'hot'" + std::string(d.for_update()));

    ChildProcess a(
        cli({"ops", "rank", "recompute", "--dsn", db.url(), "--top", "20", "--owner", "host-a", "--now", k_now_text}));
    JobLeases leases(*conn);
    for (int i = 0; i < 600; ++i) {
        auto state = leases.get(k_rank_hot_job);
        if (state && state->owner == "host-a") break;
        ASSERT_TRUE(a.running()) << "run A ended before taking the lease: " << a.err();
        std::this_thread::sleep_for(50ms);
    }
    ASSERT_EQ(leases.get(k_rank_hot_job)->owner, "host-a");

    CommandResult b = testing::run_command(
        cli({"--output", "json", "ops", "rank", "recompute", "--dsn", db.url(), "--top", "20", "--owner", "host-b"}),
        60s);
    EXPECT_EQ(b.exit_code, 0) << b.err;
    EXPECT_NE(b.out.find(R"("ran":false)"), std::string::npos) << b.out;
    EXPECT_NE(b.out.find(R"("holder":"host-a")"), std::string::npos) << b.out;
    // Every time in JSON output is ISO 8601 UTC, as in every other command.
    EXPECT_TRUE(std::regex_search(b.out, std::regex(R"re("holder_until":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")re")))
        << b.out;
    EXPECT_EQ(hot_version(*conn), 1) << "B must not have published";

    // Text output names the holder too.
    CommandResult c =
        testing::run_command(cli({"ops", "rank", "recompute", "--dsn", db.url(), "--owner", "host-c"}), 60s);
    EXPECT_EQ(c.exit_code, 0) << c.err;
    EXPECT_NE(c.out.find("rank-hot is held by host-a until "), std::string::npos) << c.out;

    blocker->rollback();
    CommandResult ra = a.wait(120s);
    EXPECT_EQ(ra.exit_code, 0) << ra.err;
    EXPECT_NE(ra.out.find("hot ranking version 2 published"), std::string::npos) << ra.out;
    EXPECT_EQ(hot_version(*conn), 2) << "computed exactly once more";
    auto state = leases.get(k_rank_hot_job);
    EXPECT_FALSE(state->owner.has_value()) << "released when done";
    EXPECT_TRUE(state->last_run_micros.has_value());

    // show: text and JSON.
    CommandResult shown = testing::run_command(cli({"ops", "rank", "show", "--dsn", db.url(), "--limit", "5"}));
    EXPECT_EQ(shown.exit_code, 0) << shown.err;
    EXPECT_NE(shown.out.find("hot ranking version 2"), std::string::npos) << shown.out;
    CommandResult json = testing::run_command(cli({"--output", "json", "ops", "rank", "show", "--dsn", db.url()}));
    EXPECT_EQ(json.exit_code, 0) << json.err;
    EXPECT_NE(json.out.find(R"("version":2)"), std::string::npos) << json.out;
    EXPECT_NE(json.out.find(R"("position":20,)"), std::string::npos) << json.out;

    CommandResult jobs = testing::run_command(cli({"ops", "jobs", "list", "--dsn", db.url()}));
    EXPECT_EQ(jobs.exit_code, 0) << jobs.err;
    EXPECT_NE(jobs.out.find("rank-hot"), std::string::npos) << jobs.out;
    EXPECT_NE(jobs.out.find("free"), std::string::npos) << jobs.out;
}

TEST(RankCli, ConcurrentRecomputesComputeOnceOnMariaDB) {
    expect_concurrent_runs_compute_once(Engine::mysql);
}
TEST(RankCli, ConcurrentRecomputesComputeOnceOnPostgres) {
    expect_concurrent_runs_compute_once(Engine::postgres);
}

void expect_stale_lease_taken_over(Engine engine) {
    SCOPED_TRACE(engine_label(engine));
    ScratchDatabase db(engine, "rank_stale");
    auto conn = seeded(db, 2000);
    const Dialect& d = conn->dialect();
    // A host crashed mid-run an hour ago: it holds the job, its lease long passed.
    conn->execute(
        fmt::format("INSERT INTO jobs (name, owner, lease_until, version, ctime, utime) VALUES "
                    "('rank-hot', 'crashed-host:42', {0}, 7, {0}, {0})",
                    fmt::format("{} - INTERVAL {}", d.now(), engine == Engine::mysql ? "1 HOUR" : "'1 hour'")));
    CommandResult r = testing::run_command(
        cli({"--output", "json", "ops", "rank", "recompute", "--dsn", db.url(), "--owner", "rescuer"}));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(R"("ran":true)"), std::string::npos) << r.out;
    EXPECT_EQ(hot_version(*conn), 1);
    JobLeases leases(*conn);
    auto state = leases.get(k_rank_hot_job);
    EXPECT_FALSE(state->owner.has_value());
    EXPECT_GT(state->version, 7);
    // The crashed host, back, cannot renew what it lost.
    Lease old{std::string(k_rank_hot_job), "crashed-host:42", 7, 0, 60s};
    EXPECT_FALSE(leases.renew(old));
}

TEST(RankCli, StaleLeaseIsTakenOverOnMariaDB) {
    expect_stale_lease_taken_over(Engine::mysql);
}
TEST(RankCli, StaleLeaseIsTakenOverOnPostgres) {
    expect_stale_lease_taken_over(Engine::postgres);
}

TEST(RankCli, BadInputIsAUsageError) {
    ScratchDatabase db(Engine::postgres, "rank_bad");
    init_schema(*db.connect());
    const std::vector<std::vector<std::string>> bad = {
        {"ops", "jobs", "show", "rank-cold", "--dsn", db.url()},
        {"ops", "rank", "recompute", "--dsn", db.url(), "--top", "0"},
        {"ops", "rank", "recompute", "--dsn", db.url(), "--gravity", "-1"},
        {"ops", "rank", "recompute", "--dsn", db.url(), "--window", "7"},
        {"ops", "rank", "recompute", "--dsn", db.url(), "--batch-size", "0"},
        {"ops", "rank", "recompute", "--dsn", db.url(), "--lease", "0s"},
        {"ops", "rank", "nonsense"},
    };
    for (const auto& args : bad) {
        CommandResult r = testing::run_command(cli(args));
        EXPECT_EQ(r.exit_code, 2) << fmt::format("{}", fmt::join(args, " ")) << "\n" << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
    CommandResult unknown = testing::run_command(cli({"ops", "jobs", "show", "rank-cold", "--dsn", db.url()}));
    EXPECT_NE(unknown.err.find("unknown job 'rank-cold' (known jobs: rank-hot)"), std::string::npos) << unknown.err;
    // Nothing was written by any of them.
    auto jobs = db.connect()->query_one("SELECT COUNT(*) FROM jobs");
    EXPECT_EQ(jobs->at(0).as_int(), 0);
    CommandResult known = testing::run_command(cli({"ops", "jobs", "show", "rank-hot", "--dsn", db.url()}));
    EXPECT_EQ(known.exit_code, 0) << known.err;
    EXPECT_NE(known.out.find("rank-hot: never run"), std::string::npos) << known.out;
}

}  // namespace
}  // namespace webook
