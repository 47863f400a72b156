// The migration mode (README.md "The four migration phases"), as stored in the
// control table row name = 'migration_mode', and the rules of each phase.
//
// Reading the mode and holding it (the fence) live in core so that every
// writer -- the double-write connection, the copy, the fixer -- and the
// validator follow it; switching it (one step at a time, behind its gates)
// belongs to migrate/ (mode_control.h, gates.h).
//
// The fence: a writer holds a shared lock on the mode row for the length of
// its write transaction (ModeFence) and applies the mode it read under that
// lock; a switch takes the row exclusively, so it waits for every writer in
// flight, and writers that start meanwhile queue behind it and read the new
// mode. Once a switch returns, no writer anywhere applies the old mode.
//
// The row moves to the authoritative side. Without a separate [control] dsn
// the mode row lives in the source's control table while the source is
// authoritative (src_only, src_first) and in the target's from dst_first on,
// so that no user write then needs the source (it may be stopped, or retired
// in dst_only). A row says one of:
//   <mode>           this row is the mode's home, holding <mode>;
//   pending:<mode>   a switch is moving the home here (version: the switch's);
//   moved:<place>    the home is in the other database since `version`.
// A switch that changes the home's place writes `pending:<to>` (v+1) in the
// new place, then `moved:<new place>` (v+1) over the locked old home -- the
// moment the switch happens -- and then confirms `<to>` in the new place.
// A fence starts where the last one found the home, follows `moved:`, and
// applies a `pending:` row only with the pointer of the same version in hand
// (the old home committed it, so the switch happened); a bare mode name is
// always the home (written only after the pointer), which is what lets a
// writer that cannot reach the source use the target's row alone (and,
// after a rollback, one that cannot reach the target the source's).
// docs/writer-protocol.md says the same for services in other languages;
// tests/unit/fence_move_model_test.cpp checks it over every interleaving.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/db/value.h"
#include "core/migration/event.h"

namespace webook {

class Connection;
class Dialect;
class Error;
using ConnectionFactory = std::function<std::unique_ptr<Connection>()>;

enum class Mode { src_only, src_first, dst_first, dst_only };

inline constexpr const char* k_mode_row = "migration_mode";

std::string_view mode_name(Mode mode);
// Throws Error(Code::usage) listing the four modes.
Mode parse_mode(std::string_view name);

// The authoritative side: the source until dst_first.
BaseSide base_side_of(Mode mode);

// -- What each phase allows (README.md "The four migration phases") ---------------
// Every command asks these, so no caller can forget a rule.

// Why `migrate copy` may not write the target in `mode` -- the mode, why, and
// the way back -- or "" when it may (only in src_only: from src_first on the
// target takes double-writes, and from dst_first it is authoritative).
std::string copy_refusal(Mode mode);

// The side a fix repairs from: the base of the current mode, whatever side the
// event names. An event from before a switch names the old base; repairing
// from it would overwrite the newer authoritative rows with stale ones, so its
// keys are re-read on the current base like any other.
BaseSide fix_base(Mode current, BaseSide event_base);

// -- Where the mode row is ----------------------------------------------------

// A control table the mode row may be in: the control database (the source
// database, or [control] dsn) or the target database's own.
enum class ControlPlace { source, target };
std::string_view place_name(ControlPlace place);
ControlPlace other_place(ControlPlace place);

// Where the mode `m` lives when the row can move (no [control] dsn): with the
// authoritative side.
ControlPlace home_place_of(Mode m);

// What one mode row says (see the top of this file).
struct ModeRow {
    enum class Kind { mode, pending, moved };
    Kind kind = Kind::mode;
    Mode mode = Mode::src_only;                    // kind mode, pending
    ControlPlace moved_to = ControlPlace::source;  // kind moved
    std::int64_t version = 0;
};
// The row's `value` text, and back. parse_mode_row throws Error(Code::data)
// for a value this version does not know.
std::string mode_row_value(const ModeRow& row);
ModeRow parse_mode_row(std::string_view value, std::int64_t version);

// One hop of finding the home: what a fence (or an unlocked read) does with
// the row it found at `at`. `pointer` is the version of the `moved:` row that
// sent it here, if any; `fell_back` says it came here because the other
// place could not be reached: then only a bare mode is trusted.
struct HomeStep {
    enum class What {
        apply,         // `at` is the home: apply row.mode, cache `at`
        go,            // look at `next` (with `pointer`, if set)
        unreachable,   // the place that did not answer must: rethrow its failure
        no_migration,  // no mode row at all
    };
    What what = What::apply;
    ControlPlace next = ControlPlace::source;
    std::optional<std::int64_t> pointer;
};
HomeStep next_home_step(ControlPlace at, const std::optional<ModeRow>& row, std::optional<std::int64_t> pointer,
                        bool fell_back);

// -- Reading the mode --------------------------------------------------------

struct ModeState {
    Mode mode = Mode::src_only;
    std::int64_t version = 0;                   // bumped by every switch
    std::string since;                          // when the mode was set, UTC; "" before the first switch
    ControlPlace place = ControlPlace::source;  // where the row holding it is
    bool confirmed = true;                      // false: `pending:` there (a switch not finished)
};

// The sessions the mode is read, held and switched on: the control database
// and, when the row may move, the target's control table. Each session is
// this object's own (opened on first use from a factory) or borrowed; either
// way nothing else may run on it while a fence is held (it would commit with
// the fence). Not thread-safe: one per writer, like a Connection.
class ControlRows {
public:
    // The row stays in `control` for good (a separate [control] dsn).
    explicit ControlRows(ConnectionFactory control);
    // The row moves between the source's control table and the target's;
    // `target` empty = it never moves.
    ControlRows(ConnectionFactory source, ConnectionFactory target);
    // Borrowed sessions (the caller keeps them alive); `target` may be null.
    static ControlRows borrowed(Connection& control, Connection* target = nullptr);
    ~ControlRows();
    ControlRows(ControlRows&&) noexcept;
    ControlRows& operator=(ControlRows&&) noexcept;

    bool movable() const;
    // The session at `place`, opened on first use (throws what connecting
    // throws). Error(Code::config) for the target when the row cannot move.
    Connection& at(ControlPlace place);
    // The control database: where the checkpoints and pass records are.
    Connection& records() { return at(ControlPlace::source); }
    // After `e` from the session at `place`: a lost connection is dropped
    // (owned sessions reopen on next use).
    void failed(ControlPlace place, const Error& e);
    // Drops every owned session (after an outage: core/base/retry.h); false
    // when a borrowed one cannot start over.
    bool reset_sessions();
    // Where the last fence or read found the home: the next one starts there.
    ControlPlace last_home() const { return m_last_home; }
    void found_home(ControlPlace place) { m_last_home = place; }

private:
    struct Slot;
    ControlRows();
    std::unique_ptr<Slot> m_slots[2];
    bool m_movable = false;
    ControlPlace m_last_home = ControlPlace::source;
};

// The factories a component makes its own ControlRows from (a copy's writers
// each have one): `target` empty = the row never moves.
struct ControlFactories {
    ConnectionFactory control;  // required
    ConnectionFactory target;
    ControlRows open() const { return target ? ControlRows(control, target) : ControlRows(control); }
};

// The current mode, read without a lock (following the row where it moved).
// Throws Error(Code::config) when the control table or the mode row is
// missing ("run 'webookctl db init' or 'migrate mode set'").
ModeState get_mode(ControlRows& control);
ModeState get_mode(Connection& control);  // a row that does not move

// The current mode; nullopt when no migration has started (no control table,
// or no mode row).
std::optional<ModeState> find_mode(ControlRows& control);

// The current mode; src_only (version 0) when no migration has started (no
// control table, or no mode row).
Mode read_mode(Connection& control);
ModeState read_mode_state(ControlRows& control);
ModeState read_mode_state(Connection& control);

// The control clock (microseconds, UTC): the database holding the mode, whose
// clock also stamps the second-side failures -- so pass times and failure
// times compare on one clock.
std::int64_t mode_clock_us(ControlRows& control);

// The mode row's query, with a lock clause (the switch takes it FOR UPDATE),
// and what a row of it says. Throws Error(Code::data) for an unknown value.
std::string select_mode_sql(const Dialect& d, std::string_view lock);
ModeRow mode_row_of(const Row& row, const Connection& control);
// The mode a home row holds (kind mode or pending).
ModeState mode_state_of(const Row& row, const Connection& control, ControlPlace place);
// Throws Error(Code::config): no control table or mode row in `control`.
[[noreturn]] void throw_no_mode(const Connection& control);

// What a fence does where no migration has started.
enum class IfNoMigration {
    fail,      // Error(Code::config), as get_mode()
    src_only,  // hold nothing and report src_only: nothing can switch a mode that is not there
};

// A writer's hold on the mode: BEGIN on the home's session and read the mode
// row FOR SHARE (following it where it moved, at most a few hops);
// release() (or the destructor) ends that transaction. Throws what the home's
// session throws; when one place cannot be reached and the row may move, the
// other's row is used if it is the home (a bare mode), else the first
// place's failure is thrown (the mode is that place's to say).
class ModeFence {
public:
    explicit ModeFence(ControlRows& control, IfNoMigration if_none = IfNoMigration::fail);
    // A row that does not move, on `control` (a session of the fence's own).
    explicit ModeFence(Connection& control, IfNoMigration if_none = IfNoMigration::fail);
    ~ModeFence();
    ModeFence(const ModeFence&) = delete;
    ModeFence& operator=(const ModeFence&) = delete;

    Mode mode() const { return m_mode; }
    // False when no migration has started (IfNoMigration::src_only).
    bool held() const { return m_held; }
    // The session holding it (where second-side failures are counted before
    // release) and its place. Only while held().
    Connection& session() { return *m_session; }
    ControlPlace place() const { return m_place; }
    void release();

private:
    void take(ControlRows& control, IfNoMigration if_none);

    std::unique_ptr<ControlRows> m_own;  // for the Connection& form
    Connection* m_session = nullptr;
    ControlPlace m_place = ControlPlace::source;
    Mode m_mode = Mode::src_only;
    bool m_held = false;
};

}  // namespace webook
