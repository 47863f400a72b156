#include "tests/support/migration_steps.h"

#include <chrono>
#include <fstream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/db/dialect.h"
#include "core/messaging/event_input.h"
#include "core/migration/checkpoint.h"
#include "core/migration/event_sink.h"
#include "tests/support/test_env.h"

namespace webook::testing {

using namespace std::chrono_literals;

TablePlan plan_for(Connection& source, Connection& target, const std::string& table) {
    TableConfig config;
    config.name = table;
    return plan_table(source, target, config);
}

// Copies one table from scratch (or as `start` says), as `migrate copy` does.
CopyReport copy(const MigrationDatabases& dbs, const std::string& table, std::size_t batch_size, CopyStart start) {
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    auto control = dbs.source.connect();
    CheckpointStore checkpoints(*control);
    checkpoints.ensure_tables();
    TablePlan plan = plan_for(*source, *target, table);
    CopyOptions options;
    options.mode_fence = {[&] { return dbs.source.connect(); }, {}};
    options.batch_size = batch_size;
    options.start = start;
    return copy_table({*source, *target}, plan, options, checkpoints, [&] { return dbs.target.connect(); });
}

// Full validation with events to a fresh JSONL file, read back.
Validation validate_to_file(const MigrationDatabases& dbs, const std::string& table, const std::string& path,
                            ValidateSettings settings) {
    auto source = dbs.source.connect();
    auto target = dbs.target.connect();
    TablePlan plan = plan_for(*source, *target, table);
    ValidateOptions options;
    options.base = settings.base;
    options.checksum = settings.checksum;
    options.batch_size = settings.batch_size;
    options.chunk_rows = settings.chunk_rows;
    auto sink = open_sink("file://" + path);
    Validation v;
    v.report = validate_full({*source, *target}, plan, options, *sink);
    sink->flush();
    v.events = read_events(path);
    v.findings = findings_of(v.events);
    return v;
}

// Full validation of one table, by rows and by checksums: both must find
// `expected`, and the counts must agree with the events.
// Checksums run twice: with chunks of `chunk_rows` (several chunks, some
// equal, some not) and with one chunk for the whole table.
void expect_full_validation_finds(const MigrationDatabases& dbs, const std::string& table, const Findings& expected,
                                  ScratchDir& dir, BaseSide base, std::size_t small_chunks) {
    for (ChecksumMode checksum : {ChecksumMode::off, ChecksumMode::on}) {
        for (std::size_t chunk_rows : {small_chunks, std::size_t{100000}}) {
            if (checksum == ChecksumMode::off && chunk_rows != small_chunks) continue;
            SCOPED_TRACE(fmt::format("{} base {} checksum {} chunk_rows {}", table, base_side_name(base),
                                     checksum == ChecksumMode::on ? "on" : "off", chunk_rows));
            ValidateSettings s;
            s.checksum = checksum;
            s.base = base;
            s.chunk_rows = chunk_rows;
            Validation v = validate_to_file(dbs, table, dir.file(unique_name(table) + ".jsonl"), s);
            EXPECT_EQ(v.findings, expected);
            EXPECT_EQ(v.events.size(), expected.size()) << "each difference is reported once";
            EXPECT_EQ(v.report.method, checksum == ChecksumMode::on ? Method::checksum : Method::rows);
            std::map<std::string, std::uint64_t> by_type;
            for (const Finding& f : expected) ++by_type[f.type];
            EXPECT_EQ(v.report.counts.target_missing, by_type["target_missing"]);
            EXPECT_EQ(v.report.counts.neq, by_type["neq"]);
            EXPECT_EQ(v.report.counts.base_missing, by_type["base_missing"]);
            for (const auto& e : v.events) {
                EXPECT_EQ(e.table, table);
                EXPECT_EQ(e.validator, checksum == ChecksumMode::on ? "checksum" : "full");  // the method that found it
                EXPECT_FALSE(e.detected_at.empty());
            }
            if (checksum == ChecksumMode::on && chunk_rows == small_chunks) {
                EXPECT_GT(v.report.chunks, 1u);
                if (expected.empty())
                    EXPECT_EQ(v.report.chunks_differing, 0u);
                else
                    EXPECT_GT(v.report.chunks_differing, 0u);
            }
        }
    }
}

void expect_consistent(const MigrationDatabases& dbs, const std::string& table, ScratchDir& dir,
                       std::size_t small_chunks) {
    expect_full_validation_finds(dbs, table, {}, dir, BaseSide::src, small_chunks);
}

ConsumerOptions fast_group() {
    ConsumerOptions s;
    s.session_timeout = 3000ms;  // the mock cluster's re-join waits session timeout - 1 s (docs/library-notes.md)
    s.heartbeat_interval = 750ms;
    return s;
}

FixOptions fix_options() {
    FixOptions o;
    o.until_idle = UntilIdle::yes;
    o.batch_size = 5;  // several batches even for a handful of events
    o.batch_wait = 200ms;
    o.backoff = 10ms;
    return o;
}

// Runs a fixer until it is idle, reading `url` (file:// or kafka://).
FixReport fix_from(const MigrationDatabases& dbs, const std::string& url, const std::string& group) {
    auto input = open_input(url, group, fast_group());
    Fixer fixer([&] { return dbs.source.connect(); }, [&] { return dbs.target.connect(); },
                {[&] { return dbs.source.connect(); }, [&] { return dbs.target.connect(); }}, {}, fix_options(),
                nullptr);
    return fixer.run(*input);
}

std::string kafka_url(const std::string& topic) {
    return "kafka://" + kafka_bootstrap() + "/" + topic;
}

// A JSONL file of events of `type` (base src) for these ids of `table`; returns its path.
std::string write_events(const std::string& path, const std::string& table, const std::vector<int>& ids,
                         const std::string& type) {
    std::ofstream out(path);
    for (int id : ids)
        out << fmt::format(R"({{"table":"{}","key":{{"id":{}}},"type":"{}","base":"src",)"
                           R"("detected_at":"2026-12-01T00:00:00Z","validator":"full"}})",
                           table, id, type)
            << "\n";
    return path;
}

Value now_value() {
    return Value::datetime_micros(system_micros());
}

// A table keyed by (k VARCHAR, n BIGINT) in the server's default collation,
// with keys that differ only by case: `rows` rows, n = first .. first+rows-1;
// k = `fixed_k` for all of them when given.
void insert_text_keyed_rows(Connection& conn, const std::string& table, int first, int rows, const char* fixed_k) {
    Transaction tx(conn);
    for (int i = first; i < first + rows; ++i) {
        std::string k(1, static_cast<char>('a' + i % 26));
        if (i % 3 == 0) k[0] = static_cast<char>(k[0] - 'a' + 'A');
        k += fmt::format("-{}", i % 7);
        if (fixed_k) k = fixed_k;
        std::vector<Value> params{Value::text(k), Value::integer(i), Value::text(fmt::format("v{}", i))};
        conn.execute(
            fmt::format("INSERT INTO {} (k, n, v) VALUES ({}, {}, {})", conn.dialect().quote(table),
                        conn.dialect().placeholder(1), conn.dialect().placeholder(2), conn.dialect().placeholder(3)),
            params);
    }
    tx.commit();
}

void with_retries(const std::function<void()>& statement) {
    for (int attempt = 1;; ++attempt) {
        try {
            statement();
            return;
        } catch (const Error& e) {
            if (!e.is_temporary() || attempt >= 50) throw;
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }
}

}  // namespace webook::testing
