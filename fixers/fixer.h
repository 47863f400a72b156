// The fixer: repairs the non-base side from the base side, event by event.
//
// Commit protocol, per batch of events (size- and time-bound):
//   1. parse; unparseable events and unknown tables go to the dead-letter sink
//   2. group by (table, base side); de-duplicate keys
//   3. per group, with the base rows locked:
//        base:  BEGIN; SELECT rows WHERE key IN (...) FOR SHARE
//        other: BEGIN; DELETE keys absent on the base; DELETE rows holding a
//               unique value a present row needs under another key; UPSERT
//               present rows; COMMIT
//        base:  COMMIT (releases the locks)
//      Holding the share locks until the other side has committed means no
//      writer can change a base row between our read and our write, so a fix
//      never overwrites a newer double-write with stale data. A key absent on
//      the base takes no row lock (PostgreSQL has no gap locks), so absent keys
//      are re-read after the commit; one that appeared meanwhile is fixed again
//      (so are the keys of rows deleted for their unique values).
//   4. flush dead letters, then commit the input's offsets.
// The base side is the current mode's, read under the mode fence
// (core/migration/migration_mode.h) for each transaction -- not the side the event
// names. An event from before a switch (a backlog: `base: src` replayed in
// dst_first) names the old base; applying it as named would overwrite the
// newer authoritative rows with stale ones. Its keys are re-read on the
// current base and the other side is repaired from it, like any other event;
// such keys are counted as `rebased`. Holding the fence for the transaction
// means a switch waits for the fix in flight, and a fix that starts after a
// switch reads the new mode: no fix writes the authoritative side of the
// mode it commits in.
// A crash anywhere loses nothing (offsets are behind the work) and a replay is
// harmless (upserts and deletes are idempotent). Temporary database errors
// (lost connection, deadlock, lock timeout) are retried with backoff on fresh
// connections; each retry of a group takes half as many keys at once. A server
// that stays away longer (a restart, a failover) is waited for within
// FixOptions::retry_for: the batch is done again whole -- harmless, since its
// offsets are not committed and its repairs are idempotent.
//
// The fixer yields to users. A double-writer holds the other side's row locks
// of its earlier statements while it waits for a base row, and the fixer
// holds base locks while it waits for the other side's rows: a deadlock that
// spans two servers, which neither detects -- the writer would wait out its
// server's lock timeout (50 s by MariaDB's default, forever by PostgreSQL's).
// So both of the fixer's sessions wait at most FixOptions::lock_wait for a
// lock; then the fixer rolls back (releasing the writer), backs off and
// retries.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/db/db.h"
#include "core/migration/config.h"
#include "core/migration/event.h"
#include "core/migration/migration_mode.h"
#include "core/migration/table_plan.h"
#include "core/migration/throttle.h"

namespace webook {

class EventInput;
class EventSink;

struct FixOptions {
    std::size_t batch_size = 500;                // events per batch; default: 500
    std::chrono::milliseconds batch_wait{1000};  // wait for a batch to fill; default: 1 s
    DryRun dry_run = DryRun::no;                 // default: write
    UntilIdle until_idle = UntilIdle::no;        // default: run until signalled
    int max_attempts = 6;                        // per group, for temporary errors; default: 6
    std::chrono::milliseconds backoff{200};      // first retry delay, doubled each time; default: 200 ms
    std::chrono::milliseconds lock_wait{1000};   // longest wait for a row lock; default: 1 s (see below)
    // How long a server may stay away (--retry-for): a batch that a lost
    // connection ends after its own attempts is done again, whole, on fresh
    // connections, for as long as one outage lasts less than this; 0: the
    // fixer ends with the error. Default: 5 min.
    std::chrono::microseconds retry_for = std::chrono::minutes(5);

    void validate() const;
};

struct FixReport {
    std::uint64_t events = 0;      // read
    std::uint64_t duplicates = 0;  // keys repeated within a batch
    std::uint64_t upserted = 0;    // rows written to the other side
    std::uint64_t deleted = 0;     // rows removed from the other side
    std::uint64_t dead_letters = 0;
    std::uint64_t batches = 0;
    std::uint64_t retries = 0;
    std::uint64_t rebased = 0;  // keys whose event named the other base (from before a switch)
};

// Called for each action in dry-run mode: "upsert"/"delete", table, key, side.
using DryRunFn =
    std::function<void(std::string_view action, const std::string& table, const Row& key, std::string_view side)>;

class Fixer {
public:
    // `control` opens connections to the control database (required) and,
    // when the mode row may move there, the target's (migration_mode.h).
    // `tables`: the tables events may name (empty: any table both sides have).
    // `dead_letter` may be null: dead letters are then logged at error level.
    Fixer(ConnectionFactory source, ConnectionFactory target, ControlFactories control, std::vector<TableConfig> tables,
          FixOptions options, EventSink* dead_letter, Clock& clock = Clock::real());
    ~Fixer();

    void set_dry_run_printer(DryRunFn fn) { m_dry_run_fn = std::move(fn); }
    // Called with the counts so far after every batch and every poll that
    // found nothing (a metrics file's writer: cheap, and it may throw).
    void set_progress_observer(std::function<void(const FixReport&)> fn) { m_progress_fn = std::move(fn); }

    // Runs until idle (UntilIdle::yes) or until interrupted; throws
    // Error(Code::interrupted) after finishing the batch in hand.
    FixReport run(EventInput& input);
    // The counts so far (after run() threw: up to its last finished batch).
    const FixReport& report() const { return m_report; }

private:
    struct Group;
    void process_batch(EventInput& input, std::vector<struct InputItem>& items);
    void fix_group(Group& group);
    // Returns the base side it repaired from.
    BaseSide apply_once(Group& group, const std::vector<Row>& keys, std::vector<Row>& absent_keys);
    const TablePlan& plan_for(const std::string& table);
    void dead_letter(const struct InputItem& item, const std::string& why);
    std::unique_ptr<Connection> open(const ConnectionFactory& factory);
    Connection& source();
    Connection& target();
    ControlRows& control();
    void reset_connections();

    ConnectionFactory m_source_factory, m_target_factory;
    ControlFactories m_control_factories;
    std::unique_ptr<Connection> m_source, m_target;
    std::optional<ControlRows> m_control;
    std::vector<TableConfig> m_tables;
    FixOptions m_options;
    EventSink* m_dead_letter;
    Clock& m_clock;
    DryRunFn m_dry_run_fn;
    std::function<void(const FixReport&)> m_progress_fn;
    std::map<std::string, std::unique_ptr<TablePlan>> m_plans;
    FixReport m_report;
};

}  // namespace webook
