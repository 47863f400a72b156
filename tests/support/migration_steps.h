// The steps of a migration as the library-level migration tests run them
// (tests/integration/migration_*_test.cpp): copy one table, validate it in
// full to a JSONL file and read the events back, run a fixer until idle, and
// the data helpers those tests share.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "core/db/db.h"
#include "core/messaging/kafka.h"
#include "core/migration/event.h"
#include "core/migration/table_plan.h"
#include "fixers/fixer.h"
#include "migrate/copy.h"
#include "tests/support/child_process.h"
#include "tests/support/migration_data.h"
#include "tests/support/scratch_db.h"
#include "validate/validation.h"

namespace webook::testing {

TablePlan plan_for(Connection& source, Connection& target, const std::string& table);

// Copies one table from scratch (or as `start` says), as `migrate copy` does.
CopyReport copy(const MigrationDatabases& dbs, const std::string& table, std::size_t batch_size = 1000,
                CopyStart start = CopyStart::fresh);

struct Validation {
    TableReport report;
    std::vector<InconsistencyEvent> events;
    Findings findings;
};

struct ValidateSettings {
    ChecksumMode checksum = ChecksumMode::off;
    BaseSide base = BaseSide::src;
    std::size_t batch_size = 7;   // small, so keyset pagination crosses many batches
    std::size_t chunk_rows = 16;  // small, so some checksum chunks match and some differ
};

// Full validation with events to a fresh JSONL file, read back.
Validation validate_to_file(const MigrationDatabases& dbs, const std::string& table, const std::string& path,
                            ValidateSettings settings = {});

// Full validation of one table, by rows and by checksums: both must find
// `expected`, and the counts must agree with the events. Checksums run twice:
// with chunks of `small_chunks` rows (several chunks, some equal, some not)
// and with one chunk for the whole table.
void expect_full_validation_finds(const MigrationDatabases& dbs, const std::string& table, const Findings& expected,
                                  ScratchDir& dir, BaseSide base = BaseSide::src, std::size_t small_chunks = 16);
void expect_consistent(const MigrationDatabases& dbs, const std::string& table, ScratchDir& dir,
                       std::size_t small_chunks = 16);

// Consumer timings the mock cluster needs to join in seconds (docs/library-notes.md).
ConsumerOptions fast_group();
FixOptions fix_options();
// Runs a fixer until it is idle, reading `url` (file:// or kafka://).
FixReport fix_from(const MigrationDatabases& dbs, const std::string& url, const std::string& group = {});
std::string kafka_url(const std::string& topic);

// A JSONL file of events of `type` (base src) for these ids of `table`; returns its path.
std::string write_events(const std::string& path, const std::string& table, const std::vector<int>& ids,
                         const std::string& type);
Value now_value();

// Runs `statement` until it succeeds, retrying temporary errors (deadlocks,
// lock timeouts) as the platform's writers would: the test writers that race
// the fixer. Gives up after 50 attempts.
void with_retries(const std::function<void()>& statement);

// A table keyed by (k VARCHAR, n BIGINT) in the server's default collation,
// with keys that differ only by case: `rows` rows, n = first .. first+rows-1;
// k = `fixed_k` for all of them when given.
void insert_text_keyed_rows(Connection& conn, const std::string& table, int first, int rows,
                            const char* fixed_k = nullptr);

}  // namespace webook::testing
