// The mode row follows the authoritative side (core/migration/migration_mode.h;
// issue 11 part 2), against the real servers: from dst_first on a user write
// through the double-write connection needs only the target -- the source
// may stop for a while in dst_first (its writes are second-side failures,
// counted in the target's control table) or for good in dst_only -- and a
// rollback brings the row home. The source each writer uses (data and
// control sessions) goes through a fault proxy; the switches run on direct
// sessions, as the operator's webookctl does. Every interleaving of the
// protocol: tests/unit/fence_move_model_test.cpp.
#include <unistd.h>
#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/db/dialect.h"
#include "core/migration/checkpoint.h"
#include "migrate/double_write.h"
#include "migrate/mode_control.h"
#include "tests/support/child_process.h"
#include "tests/support/cli_run.h"
#include "tests/support/fault_proxy.h"
#include "tests/support/migration_data.h"
#include "tests/support/scratch_db.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using testing::Args;
using testing::CommandResult;
using testing::FaultProxy;
using testing::ScratchDatabase;

using testing::operator+;

PortableSql insert_note() {
    return PortableSql{[](const Dialect& d) {
                           return fmt::format("INSERT INTO {} ({}, {}) VALUES ({}, {})", d.quote("notes"),
                                              d.quote("id"), d.quote("body"), d.placeholder(1), d.placeholder(2));
                       },
                       "notes"};
}

std::string row_value(Connection& c) {
    if (!c.table_exists(k_control_table)) return "none";
    std::vector<Value> key{Value::text(k_mode_row)};
    auto row = c.query_one(select_mode_sql(c.dialect(), ""), key);
    return row ? fmt::format("{} v{}", row->at(0).as_string(), row->at(1).as_int()) : "none";
}

std::set<std::int64_t> ids(Connection& c) {
    std::set<std::int64_t> out;
    for (const Row& r : c.query("SELECT id FROM notes")) out.insert(r[0].as_int());
    return out;
}

class ModeRowMove : public ::testing::TestWithParam<testing::EnginePair> {
protected:
    void SetUp() override {
        for (auto* db : {&m_src, &m_dst}) {
            auto c = db->connect();
            c->execute(fmt::format("CREATE TABLE {} ({} BIGINT PRIMARY KEY, {} VARCHAR(64) NOT NULL)",
                                   c->dialect().quote("notes"), c->dialect().quote("id"), c->dialect().quote("body")));
        }
        m_source = m_src.connect();
        m_target_control = m_dst.connect();
        ensure_mode_row(*m_source);
    }

    // The operator's view: the source's control table and the target's, direct.
    ControlRows operator_rows() { return ControlRows::borrowed(*m_source, m_target_control.get()); }

    void switch_to(Mode to) {
        ControlRows rows = operator_rows();
        set_mode(rows, to, 10s);
    }

    // A service's double-write connection whose source sessions go through the proxy.
    std::unique_ptr<Connection> writer() {
        Dsn through = m_src.dsn();
        through.host = "127.0.0.1";
        through.port = m_proxy.port();
        auto source = [through] { return connect(through); };
        return make_double_write({source, GetParam().source, [this] { return m_dst.connect(); }, GetParam().target,
                                  source, [this] { return m_dst.connect(); }},
                                 m_counters);
    }

    // `threads` writers, each its own connection, writing new ids until `stop`;
    // returns the ids acknowledged. A failed user write is recorded.
    struct Traffic {
        std::atomic<bool> stop{false};
        std::atomic<int> failed{0};
        std::vector<std::thread> threads;
        std::vector<std::vector<std::int64_t>> acked;
        std::string first_failure;
        std::mutex mutex;
    };
    void start(Traffic& t, int threads, std::int64_t base) {
        t.acked.resize(threads);
        for (int i = 0; i < threads; ++i)
            t.threads.emplace_back([this, &t, i, base] {
                auto conn = writer();
                for (std::int64_t n = 0; !t.stop; ++n) {
                    const std::int64_t id = base + i * 1'000'000 + n;
                    std::vector<Value> p{Value::integer(id), Value::text("w")};
                    try {
                        conn->execute(insert_note(), p);
                        t.acked[i].push_back(id);
                    } catch (const Error& e) {
                        ++t.failed;
                        std::lock_guard lock(t.mutex);
                        if (t.first_failure.empty()) t.first_failure = e.what();
                    }
                    std::this_thread::sleep_for(2ms);
                }
            });
    }
    std::set<std::int64_t> finish(Traffic& t) {
        t.stop = true;
        for (auto& th : t.threads) th.join();
        std::set<std::int64_t> all;
        for (const auto& a : t.acked) all.insert(a.begin(), a.end());
        return all;
    }

    ScratchDatabase m_src{GetParam().source, "move_src"};
    ScratchDatabase m_dst{GetParam().target, "move_dst"};
    FaultProxy m_proxy{m_src.dsn().host, m_src.dsn().port};
    std::unique_ptr<Connection> m_source, m_target_control;
    DoubleWriteCounters m_counters;
};

TEST_P(ModeRowMove, FromDstFirstOnAUserWriteNeedsOnlyTheTargetAndARollbackBringsTheRowHome) {
    switch_to(Mode::src_first);
    EXPECT_EQ(row_value(*m_source), "src_first v1");
    EXPECT_EQ(row_value(*m_target_control), "none");  // nothing in the target before dst_first

    // The switch moves the row: pending in the target, the pointer over the
    // source's, confirmed in the target.
    switch_to(Mode::dst_first);
    EXPECT_EQ(row_value(*m_source), "moved:target v2");
    EXPECT_EQ(row_value(*m_target_control), "dst_first v2");

    // dst_first, 8 writers; the source cut and away for 2 s, then back.
    Traffic during;
    start(during, 8, 1);
    std::this_thread::sleep_for(300ms);
    m_proxy.refuse(true);
    m_proxy.cut_all();
    std::this_thread::sleep_for(1s);
    // A service that starts while the source is away writes too: its first
    // fence finds the source gone and the target's row the home.
    auto late = writer();
    std::vector<Value> p{Value::integer(999), Value::text("late")};
    EXPECT_NO_THROW(late->execute(insert_note(), p));
    std::this_thread::sleep_for(1s);
    m_proxy.refuse(false);
    std::this_thread::sleep_for(500ms);
    std::set<std::int64_t> acked = finish(during);
    acked.insert(999);
    EXPECT_EQ(during.failed.load(), 0) << during.first_failure;
    EXPECT_GT(acked.size(), 200u);
    EXPECT_EQ(ids(*m_dst.connect()), acked);  // the target has every acknowledged write
    const std::set<std::int64_t> on_source = ids(*m_source);
    const std::size_t missing = acked.size() - on_source.size();
    EXPECT_GT(missing, 0u);  // the outage's writes
    // ... each a second-side failure, counted where the fence is: the target.
    // (At least one per missing row: a commit cut on its way back may have
    // reached the source all the same.)
    const std::uint64_t failures = m_counters.second_side_failures.load();
    EXPECT_GE(failures, missing);
    EXPECT_EQ(read_second_side_failures(*m_target_control).count, failures);
    EXPECT_EQ(read_second_side_failures(*m_source).count, 0u);

    // dst_only: the source can go for good.
    switch_to(Mode::dst_only);
    EXPECT_EQ(row_value(*m_target_control), "dst_only v3");
    m_proxy.refuse(true);
    m_proxy.cut_all();
    const std::uint64_t failures_before = m_counters.second_side_failures.load();
    Traffic gone;
    start(gone, 4, 50'000'000);
    std::this_thread::sleep_for(1s);
    const std::set<std::int64_t> acked_gone = finish(gone);
    EXPECT_EQ(gone.failed.load(), 0) << gone.first_failure;
    EXPECT_GT(acked_gone.size(), 50u);
    EXPECT_EQ(m_counters.second_side_failures.load(), failures_before);  // nothing tried the source
    {
        // The mode is read without the source, too.
        auto ctl_source = [&] {
            Dsn through = m_src.dsn();
            through.host = "127.0.0.1";
            through.port = m_proxy.port();
            return connect(through);
        };
        ControlRows rows(ctl_source, [this] { return m_dst.connect(); });
        EXPECT_EQ(get_mode(rows).mode, Mode::dst_only);
    }

    // Back to dst_first, then src_first: the row moves home to the source.
    m_proxy.refuse(false);
    switch_to(Mode::dst_first);
    switch_to(Mode::src_first);
    EXPECT_EQ(row_value(*m_source), "src_first v5");
    EXPECT_EQ(row_value(*m_target_control), "moved:source v5");
    // The failures counted in the target came along.
    EXPECT_EQ(read_second_side_failures(*m_source).count, failures);
    // A writer whose last fence was in the target follows the row back: in
    // src_first the source is first, so a write to it lands there.
    auto conn = writer();
    std::vector<Value> q{Value::integer(777), Value::text("after the rollback")};
    conn->execute(insert_note(), q);
    EXPECT_EQ(ids(*m_source).count(777), 1u);
}

TEST_P(ModeRowMove, AMoveWhoseConfirmationFailedServesWritersThroughThePointerAndIsFinishedByRunningItAgain) {
    switch_to(Mode::src_first);
    // What a switch leaves when it dies between the pointer and the
    // confirmation: the target's row pending, the source's pointing to it.
    CheckpointStore(*m_target_control).ensure_tables();
    ensure_mode_row(*m_target_control);
    m_target_control->execute(fmt::format("UPDATE {} SET value = 'pending:dst_first', version = 2 WHERE name = '{}'",
                                          m_target_control->dialect().quote(k_control_table), k_mode_row));
    m_source->execute(fmt::format("UPDATE {} SET value = 'moved:target', version = 2 WHERE name = '{}'",
                                  m_source->dialect().quote(k_control_table), k_mode_row));
    ControlRows rows = operator_rows();
    const ModeState state = get_mode(rows);
    EXPECT_EQ(state.mode, Mode::dst_first);
    EXPECT_FALSE(state.confirmed);

    // A writer that reaches the source follows the pointer and writes, target first.
    auto conn = writer();
    std::vector<Value> p{Value::integer(1), Value::text("through the pointer")};
    conn->execute(insert_note(), p);
    EXPECT_EQ(ids(*m_dst.connect()).count(1), 1u);
    // One that starts without the source cannot trust the unconfirmed row.
    m_proxy.refuse(true);
    m_proxy.cut_all();
    auto stranded = writer();
    std::vector<Value> q{Value::integer(2), Value::text("stranded")};
    try {
        stranded->execute(insert_note(), q);
        ADD_FAILURE() << "wrote with the source away and the target's row unconfirmed";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::connection) << e.what();
    }

    // `mode set dst_first` again finishes the move; then it can.
    ControlRows again = operator_rows();
    SetModeResult r = set_mode(again, Mode::dst_first, 10s);
    EXPECT_FALSE(r.changed);
    EXPECT_TRUE(r.after.confirmed);
    EXPECT_EQ(row_value(*m_target_control), "dst_first v2");
    auto rested = writer();  // a new service (the stranded one rests its source a second)
    EXPECT_NO_THROW(rested->execute(insert_note(), q));
}

TEST_P(ModeRowMove, RowsThatDisagreeAreADataErrorAndTheFenceHoldsNothingAfterwards) {
    // The source points to the target at version 9, the target holds an older row.
    CheckpointStore(*m_target_control).ensure_tables();
    ensure_mode_row(*m_target_control);
    m_target_control->execute(fmt::format("UPDATE {} SET value = 'dst_first', version = 3 WHERE name = '{}'",
                                          m_target_control->dialect().quote(k_control_table), k_mode_row));
    m_source->execute(fmt::format("UPDATE {} SET value = 'moved:target', version = 9 WHERE name = '{}'",
                                  m_source->dialect().quote(k_control_table), k_mode_row));
    ControlRows rows = operator_rows();
    try {
        ModeFence fence(rows);
        ADD_FAILURE() << "a fence over rows that disagree";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::data) << e.what();
        EXPECT_NE(std::string(e.what()).find("older than the row that points to it"), std::string::npos) << e.what();
    }
    // Neither row is still held: another session changes both at once.
    for (ScratchDatabase* db : {&m_src, &m_dst}) {
        auto other = db->connect();
        other->execute(other->dialect().lock_timeout(1s));
        EXPECT_NO_THROW(other->execute(fmt::format("UPDATE {} SET utime = utime WHERE name = '{}'",
                                                   other->dialect().quote(k_control_table), k_mode_row)));
    }
}

INSTANTIATE_TEST_SUITE_P(Pairs, ModeRowMove, ::testing::ValuesIn(testing::engine_pairs()),
                         [](const auto& info) { return info.param.name; });

// The CLI: a switch into the target's phases needs the target (the row goes
// there); with [control] dsn it stays in the control database.
TEST(ModeRowMoveCli, ASwitchThatMovesTheRowNeedsTheTargetAndASeparateControlDatabaseKeepsIt) {
    ScratchDatabase src{Engine::mysql, "movecli_src"}, dst{Engine::postgres, "movecli_dst"},
        ctl{Engine::mysql, "movecli_ctl"};
    auto run = [](Args a) { return testing::webookctl(std::move(a)); };
    ASSERT_EQ(run({"migrate", "mode", "set", "src_only", "--source", src.url()}).exit_code, 0);
    ASSERT_EQ(run({"migrate", "mode", "set", "src_first", "--source", src.url(), "--target", dst.url(), "--force",
                   "--reason", "test"})
                  .exit_code,
              0);
    testing::expect_one_error(
        run({"migrate", "mode", "set", "dst_first", "--source", src.url(), "--force", "--reason", "test"}), 2,
        "give --target");
    EXPECT_EQ(row_value(*src.connect()), "src_first v1");  // nothing changed

    // With the target: moved, and `mode get` needs the target to follow it.
    CommandResult moved = run({"--output", "json", "migrate", "mode", "set", "dst_first", "--source", src.url(),
                               "--target", dst.url(), "--force", "--reason", "test"});
    ASSERT_EQ(moved.exit_code, 0) << testing::describe(moved);
    EXPECT_EQ(testing::last_json(moved)["mode_row"], "target");
    EXPECT_EQ(testing::last_json(moved)["moved"], true);
    testing::expect_one_error(run({"migrate", "mode", "get", "--source", src.url()}), 2,
                              "give this command the target");
    CommandResult got =
        run({"--output", "json", "migrate", "mode", "get", "--source", src.url(), "--target", dst.url()});
    ASSERT_EQ(got.exit_code, 0) << testing::describe(got);
    EXPECT_EQ(testing::last_json(got)["mode"], "dst_first");
    EXPECT_EQ(testing::last_json(got)["mode_row"], "target");

    // The source gone: the mode is still read, and `status` says what it cannot show.
    FaultProxy proxy(src.dsn().host, src.dsn().port);
    proxy.refuse(true);
    const std::string gone = fmt::format("mysql://{}@127.0.0.1:{}/{}", src.dsn().user, proxy.port(), src.name());
    CommandResult without =
        run({"--output", "json", "migrate", "mode", "get", "--source", gone, "--target", dst.url()});
    ASSERT_EQ(without.exit_code, 0) << testing::describe(without);
    EXPECT_EQ(testing::last_json(without)["mode"], "dst_first");
    CommandResult status = run({"--output", "json", "migrate", "status", "--source", gone, "--target", dst.url()});
    ASSERT_EQ(status.exit_code, 0) << testing::describe(status);
    EXPECT_EQ(testing::last_json(status)["mode"], "dst_first");
    EXPECT_NE(testing::last_json(status)["records_unavailable"].get<std::string>().find("cannot connect"),
              std::string::npos)
        << status.out;

    // A separate control database: the row stays there through every phase.
    const std::string config = ::testing::TempDir() + "/movecli_" + std::to_string(::getpid()) + ".toml";
    testing::write_file(config, fmt::format("[control]\ndsn = \"{}\"\n", ctl.url()));
    const Args with_config{"--config", config};
    for (const char* mode : {"src_only", "src_first", "dst_first", "dst_only"}) {
        const Args set =
            with_config + Args{"migrate", "mode", "set", mode, "--source", src.url(), "--force", "--reason", "test"};
        // Into dst_first the target becomes the base: its id sequences are moved past its rows.
        if (std::string(mode) == "dst_first")
            testing::expect_one_error(run(set), 2, "needs a connection to the target");
        CommandResult r = run(set + Args{"--target", dst.url()});
        ASSERT_EQ(r.exit_code, 0) << mode << testing::describe(r);
    }
    EXPECT_EQ(row_value(*ctl.connect()), "dst_only v3");
}

}  // namespace
}  // namespace webook
