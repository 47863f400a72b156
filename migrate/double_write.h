// The double-write connection: the platform's writes, in the current mode.
//
// A Connection over a source and a target (and the control tables that hold
// the mode: the source's, and the target's from dst_first on). Per operation
// or transaction it takes the mode fence (migration_mode.h) and then:
//   src_only   reads and writes the source
//   src_first  reads the source; writes the source, then the target
//   dst_first  reads the target; writes the target, then the source
//   dst_only   reads and writes the target
// A transaction spans both sides: begin both, run each statement on the first
// side then the second, commit the second, then the first (the first side's
// row locks hold until the second side has committed). A failure on the
// first side fails the operation; a failure on the second side is logged with
// the statement's table and key, counted (here and in the control table's
// 'second_side_failures' row, for `migrate status`), and never returned to
// the caller: incremental validation finds the difference and the fixer
// repairs it. After a second-side failure inside a transaction, the rest of
// that transaction skips the second side, which is rolled back.
//
// The platform code above cannot tell whether it is double-writing. It must
// use PortableSql (one statement, rendered per engine) when the two engines
// differ, and must not rely on generated ids (both sides need the same id:
// generate it, see platform/ids.h).
//
// Not thread-safe: one per thread, like any Connection.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "core/db/db.h"
#include "migrate/mode_control.h"

namespace webook {

struct DoubleWriteCounters {
    std::atomic<std::uint64_t> second_side_failures{0};
    std::atomic<std::uint64_t> writes{0};
};

struct DoubleWriteSides {
    ConnectionFactory source;  // required; opens (and reopens, after a lost connection) the source
    Engine source_engine = Engine::mysql;
    ConnectionFactory target;  // required
    Engine target_engine = Engine::mysql;
    ConnectionFactory control;  // required: the control database (the source's, unless [control] dsn)
    // The target's control table, where the mode row moves from dst_first on
    // (migration_mode.h): a session of its own on the target. Empty with a
    // separate [control] dsn: the row then never moves.
    ConnectionFactory control_target;
    ControlFactories control_factories() const { return {control, control_target}; }
};

// Nothing is opened until first use, so a double-write connection can be
// made while the second side is down. `counters` may be shared.
std::unique_ptr<Connection> make_double_write(DoubleWriteSides sides, DoubleWriteCounters& counters);

// Opens a plain connection to the side that is authoritative in the current
// mode (read from the control database at every open): where jobs that write
// through the double-write connection read in bulk (a scan, a reconciliation)
// -- the double-write connection itself reads its first side, which is the
// same side, but only through portable SQL.
ConnectionFactory authoritative_side(DoubleWriteSides sides);

// Adds n to the control table's second-side failure count (on the session
// holding the fence: where the mode's row is).
void record_second_side_failures(Connection& control, std::uint64_t n);
std::uint64_t second_side_failures(Connection& control);
// The count and when the last one was counted (the control database's clock,
// microseconds; none before the first).
struct SecondSideFailures {
    std::uint64_t count = 0;
    std::optional<std::int64_t> last_us;
};
SecondSideFailures read_second_side_failures(Connection& control);

}  // namespace webook
