// The double-write connection and the fenced mode switch, against the real
// servers: MariaDB source, PostgreSQL target (the cross-engine pair).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <iterator>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/db/dialect.h"
#include "migrate/double_write.h"
#include "migrate/mode_control.h"
#include "platform/schema.h"
#include "tests/support/connection_wrapper.h"
#include "tests/support/scratch_db.h"

namespace webook {
namespace {

using testing::ScratchDatabase;

// notes(id, body, mode_seen): a table both sides have.
PortableSql insert_note(std::int64_t id) {
    return PortableSql{[](const Dialect& d) {
                           return fmt::format("INSERT INTO {} ({}, {}) VALUES ({}, {})", d.quote("notes"),
                                              d.quote("id"), d.quote("body"), d.placeholder(1), d.placeholder(2));
                       },
                       fmt::format("notes id={}", id)};
}

PortableSql set_note(std::int64_t id) {
    return PortableSql{[](const Dialect& d) {
                           return fmt::format("UPDATE {} SET {} = {} WHERE {} = {}", d.quote("notes"), d.quote("body"),
                                              d.placeholder(1), d.quote("id"), d.placeholder(2));
                       },
                       fmt::format("notes id={}", id)};
}

PortableSql count_notes() {
    return PortableSql{[](const Dialect& d) { return "SELECT COUNT(*) FROM " + d.quote("notes"); }, {}};
}

class DoubleWrite : public ::testing::Test {
protected:
    void SetUp() override {
        for (auto* db : {&m_src, &m_dst}) {
            auto c = db->connect();
            c->execute(fmt::format("CREATE TABLE {} ({} BIGINT PRIMARY KEY, {} VARCHAR(64) NOT NULL)",
                                   c->dialect().quote("notes"), c->dialect().quote("id"), c->dialect().quote("body")));
        }
        m_control = m_src.connect();
        ensure_mode_row(*m_control);
    }

    std::unique_ptr<Connection> double_write(ConnectionFactory target = {}) {
        if (!target) target = [this] { return m_dst.connect(); };
        // The control row stays in the source (as with a separate [control]
        // dsn): these tests switch it there; mode_row_move_test.cpp moves it.
        return make_double_write({[this] { return m_src.connect(); },
                                  Engine::mysql,
                                  std::move(target),
                                  Engine::postgres,
                                  [this] { return m_src.connect(); },
                                  {}},
                                 m_counters);
    }

    std::int64_t count(const ScratchDatabase& db) { return (*db.connect()->query_one(count_notes()))[0].as_int(); }

    void write(Connection& conn, std::int64_t id) {
        std::vector<Value> p{Value::integer(id), Value::text("note " + std::to_string(id))};
        conn.execute(insert_note(id), p);
    }

    ScratchDatabase m_src{Engine::mysql, "dw_src"};
    ScratchDatabase m_dst{Engine::postgres, "dw_dst"};
    std::unique_ptr<Connection> m_control;
    DoubleWriteCounters m_counters;
};

TEST_F(DoubleWrite, EachModeWritesAndReadsTheSidesOfTheSpec) {
    auto conn = double_write();
    write(*conn, 1);  // src_only
    EXPECT_EQ(count(m_src), 1);
    EXPECT_EQ(count(m_dst), 0);

    set_mode(*m_control, Mode::src_first);
    write(*conn, 2);
    EXPECT_EQ(count(m_src), 2);
    EXPECT_EQ(count(m_dst), 1);
    EXPECT_EQ((*conn->query_one(count_notes()))[0].as_int(), 2);  // reads the source

    set_mode(*m_control, Mode::dst_first);
    write(*conn, 3);
    EXPECT_EQ(count(m_src), 3);
    EXPECT_EQ(count(m_dst), 2);
    EXPECT_EQ((*conn->query_one(count_notes()))[0].as_int(), 2);  // reads the target

    set_mode(*m_control, Mode::dst_only);
    write(*conn, 4);
    EXPECT_EQ(count(m_src), 3);
    EXPECT_EQ(count(m_dst), 3);
    EXPECT_EQ(m_counters.second_side_failures.load(), 0u);
}

TEST_F(DoubleWrite, ATransactionSpansBothSidesAndRollsBackOnBoth) {
    set_mode(*m_control, Mode::src_first);
    auto conn = double_write();
    {
        Transaction tx(*conn);
        write(*conn, 10);
        write(*conn, 11);
        tx.commit();
    }
    {
        Transaction tx(*conn);
        write(*conn, 12);
    }  // not committed
    EXPECT_EQ(count(m_src), 2);
    EXPECT_EQ(count(m_dst), 2);
}

TEST_F(DoubleWrite, ASecondSideFailureIsCountedAndNeverFailsTheWrite) {
    set_mode(*m_control, Mode::src_first);
    auto conn = double_write();
    // A row only the target has: the second-side insert hits its primary key.
    write(*m_dst.connect(), 20);
    EXPECT_NO_THROW(write(*conn, 20));
    EXPECT_EQ(count(m_src), 1);
    EXPECT_EQ(m_counters.second_side_failures.load(), 1u);
    EXPECT_EQ(second_side_failures(*m_control), 1u);
    // And an unreachable target: user writes still succeed.
    Dsn dead = m_dst.dsn();
    dead.port = 1;
    auto cut_off = double_write([dead] { return connect(dead); });
    EXPECT_NO_THROW(write(*cut_off, 21));
    EXPECT_NO_THROW(write(*cut_off, 22));
    EXPECT_EQ(count(m_src), 3);
    EXPECT_GE(m_counters.second_side_failures.load(), 3u);
}

// A target that went away and came back is written again while traffic goes
// on: a write during the second side's rest must not extend the rest (it did,
// and a busy writer never reconnected until the traffic paused).
TEST_F(DoubleWrite, ASecondSideThatComesBackIsWrittenAgainUnderSteadyTraffic) {
    set_mode(*m_control, Mode::src_first);
    std::atomic<bool> down{false};
    auto conn = double_write([this, &down] {
        return std::make_unique<testing::ConnectionWrapper>(m_dst.connect(), [&down](std::string_view) {
            if (down) throw Error(Code::connection, "server closed the connection", Temporary::yes);
        });
    });
    write(*conn, 40);
    EXPECT_EQ(count(m_dst), 1);
    down = true;
    write(*conn, 41);  // the target's connection is lost: dropped, the target rests
    down = false;      // ... and the server is back
    std::int64_t id = 42;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (count(m_dst) == 1 && std::chrono::steady_clock::now() < deadline) {
        write(*conn, id++);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_GT(count(m_dst), 1) << "the target was never written again while writes kept coming";
    EXPECT_EQ(count(m_src), id - 40);
}

// Every read outside a transaction asks the control table for the mode:
// one small query, never an introspection (information_schema lookups cost
// MariaDB 5-20 ms each under concurrent traffic, and were the simulate
// benchmark's whole latency tail).
TEST_F(DoubleWrite, AReadAsksTheModeWithOneQueryAndNoIntrospection) {
    std::vector<std::string> control_statements;
    auto conn = make_double_write({[this] { return m_src.connect(); },
                                   Engine::mysql,
                                   [this] { return m_dst.connect(); },
                                   Engine::postgres,
                                   [&] {
                                       return std::make_unique<testing::ConnectionWrapper>(
                                           m_src.connect(),
                                           [&](std::string_view sql) { control_statements.emplace_back(sql); });
                                   },
                                   {}},
                                  m_counters);
    for (int i = 0; i < 3; ++i) conn->query(count_notes());
    ASSERT_EQ(control_statements.size(), 3u);
    for (const auto& sql : control_statements) {
        EXPECT_EQ(sql.find("COLUMNS"), std::string::npos) << sql;
        EXPECT_NE(sql.find("webookctl_control"), std::string::npos) << sql;
    }
}

TEST_F(DoubleWrite, AFirstSideFailureFailsTheWrite) {
    set_mode(*m_control, Mode::src_first);
    auto conn = double_write();
    write(*m_src.connect(), 30);
    EXPECT_THROW(write(*conn, 30), Error);
    EXPECT_EQ(count(m_dst), 0);  // nothing reached the second side
}

// The second side commits before the first (the first side's locks hold
// until then). A first commit that fails after it fails the user's write and
// counts a second-side failure: the second side holds a write the first
// lacks, for validation to find and the fixer to repair.
TEST_F(DoubleWrite, AFirstCommitFailingAfterTheSecondCountsASecondSideFailure) {
    set_mode(*m_control, Mode::src_first);
    std::vector<std::string> commits;
    auto conn = make_double_write({[&] {
                                       auto c = std::make_unique<testing::ConnectionWrapper>(m_src.connect(), nullptr);
                                       c->before_commit([&](std::string_view) {
                                           commits.push_back("source");
                                           throw Error(Code::connection, "lost connection at commit (injected)",
                                                       Temporary::yes);
                                       });
                                       return c;
                                   },
                                   Engine::mysql,
                                   [&] {
                                       auto c = std::make_unique<testing::ConnectionWrapper>(m_dst.connect(), nullptr);
                                       c->before_commit([&](std::string_view) { commits.push_back("target"); });
                                       return c;
                                   },
                                   Engine::postgres,
                                   [this] { return m_src.connect(); },
                                   {}},
                                  m_counters);
    EXPECT_THROW(write(*conn, 40), Error);
    EXPECT_EQ(commits, (std::vector<std::string>{"target", "source"}));
    EXPECT_EQ(count(m_src), 0);
    EXPECT_EQ(count(m_dst), 1);
    EXPECT_EQ(m_counters.second_side_failures.load(), 1u);
    EXPECT_EQ(second_side_failures(*m_control), 1u);  // recorded where a switch's gate reads it
}

TEST_F(DoubleWrite, IllegalTransitionsAreRefusedAndChangeNothing) {
    try {
        set_mode(*m_control, Mode::dst_first);
        FAIL() << "src_only -> dst_first must be refused";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::usage);
        EXPECT_NE(std::string(e.what()).find("one step at a time"), std::string::npos);
    }
    EXPECT_EQ(get_mode(*m_control).mode, Mode::src_only);
    EXPECT_EQ(get_mode(*m_control).version, 0);
}

TEST_F(DoubleWrite, OnceTheSwitchReturnsNoWriterAppliesTheOldMode) {
    // Eight writers keep transactions open a little while the mode goes from
    // src_only to src_first. A row only the source has was written in
    // src_only. Right after set_mode() returns, take the set of such rows:
    // no row may join it later, or a writer applied the old mode after the
    // switch returned. (Rows of src_first writers in flight may be on the
    // source only for a moment; they leave the set, never join it.)
    // Connections opened up front: the snapshot right after the switch must
    // be quick, or a late old-mode write could slip into it.
    auto src_reader = m_src.connect(), dst_reader = m_dst.connect();
    auto ids = [](Connection& conn) {
        std::set<std::int64_t> out;
        for (const auto& r : conn.query("SELECT id FROM notes")) out.insert(r[0].as_int());
        return out;
    };
    auto source_only = [&] {
        auto s = ids(*src_reader), d = ids(*dst_reader);
        std::set<std::int64_t> out;
        std::set_difference(s.begin(), s.end(), d.begin(), d.end(), std::inserter(out, out.end()));
        return out;
    };
    std::atomic<bool> stop{false};
    std::atomic<std::int64_t> next_id{1000};
    std::atomic<int> failures{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 8; ++w) {
        writers.emplace_back([&] {
            try {
                auto conn = double_write();
                while (!stop) {
                    Transaction tx(*conn);
                    const std::int64_t id = next_id++;
                    std::vector<Value> p{Value::integer(id), Value::text("w")};
                    conn->execute(insert_note(id), p);
                    std::this_thread::sleep_for(std::chrono::milliseconds(40));  // a long transaction
                    tx.commit();
                }
            } catch (const std::exception& e) {
                ++failures;
                ADD_FAILURE() << e.what();
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto control = m_src.connect();
    SetModeResult r = set_mode(*control, Mode::src_first);
    ASSERT_TRUE(r.changed);
    const auto at_switch = source_only();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
    for (auto& t : writers) t.join();
    EXPECT_EQ(failures.load(), 0);
    const auto at_end = source_only();
    for (std::int64_t id : at_end)
        EXPECT_TRUE(at_switch.count(id)) << "row " << id << " was written in src_only after the switch returned";
    EXPECT_FALSE(at_end.empty());            // writers did run in src_only
    EXPECT_GT(ids(*dst_reader).size(), 0u);  // and in src_first
    EXPECT_EQ(m_counters.second_side_failures.load(), 0u);
}

// Two writers of one row, each a statement on its own (no transaction):
// writer A is slow to reach the second side. Writer B must not slip its write
// onto both sides in between -- the sides would end with different values
// (B's on the first, A's on the second). A statement double-writes as a
// transaction of one, holding the first side's row lock until the second
// side has applied it, so B waits and both sides end with B's value.
TEST_F(DoubleWrite, TwoWritersOfOneRowApplyInTheSameOrderOnBothSides) {
    set_mode(*m_control, Mode::src_first);
    {
        auto conn = double_write();
        write(*conn, 1);
    }
    std::atomic<bool> a_at_second_side{false};
    auto slow_target = [&] {
        return std::make_unique<testing::ConnectionWrapper>(m_dst.connect(), [&](std::string_view sql) {
            if (sql.find("UPDATE") == std::string_view::npos) return;
            a_at_second_side = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(400));
        });
    };
    std::thread a([&] {
        auto conn = double_write(slow_target);
        std::vector<Value> p{Value::text("A"), Value::integer(1)};
        conn->execute(set_note(1), p);
    });
    while (!a_at_second_side) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    {
        auto conn = double_write();
        std::vector<Value> p{Value::text("B"), Value::integer(1)};
        conn->execute(set_note(1), p);
    }
    a.join();
    auto body = [](const ScratchDatabase& db) {
        return std::string((*db.connect()->query_one("SELECT body FROM notes WHERE id = 1"))[0].as_string());
    };
    EXPECT_EQ(body(m_src), "B");
    EXPECT_EQ(body(m_dst), "B");
    EXPECT_EQ(m_counters.second_side_failures.load(), 0u);
}

}  // namespace
}  // namespace webook
