// The migration mode state machine: the fenced switch (README.md "The four
// migration phases"). Reading the mode and the writers' fence are in
// core/migration/migration_mode.h; the gates each step must pass, in gates.h.
//
// The mode is one row of the control table (name = 'migration_mode'; value,
// version, utime). Allowed steps: one forward (src_only -> src_first ->
// dst_first -> dst_only) or one back (a rollback); anything else is refused
// with the reason.
//
// Fence: every writer (a DoubleWriteConnection) holds a shared lock on the
// mode row for the length of its transaction -- it reads the mode under that
// lock and applies it. set_mode() updates the row, which needs the exclusive
// lock: it waits until every writer in flight has finished, and writers that
// start meanwhile queue behind it and then read the new mode. So once
// set_mode() returns, no writer anywhere applies the old mode.
//
// The row moves with the authoritative side (migration_mode.h): a step that
// changes it writes the new home `pending:`, then the old home's pointer
// (the switch), then the confirmation -- switch_writes() below; a pending
// home left by a failed confirmation is confirmed before any further step.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/migration/migration_mode.h"

namespace webook {

class Connection;

// Whether `to` may follow `from`; `why` says why not.
bool transition_allowed(Mode from, Mode to, std::string* why);

// Creates the control tables and the mode row (src_only) if missing.
void ensure_mode_row(Connection& control);

struct SetModeResult {
    ModeState before;
    ModeState after;
    bool changed = false;       // false when already in that mode
    bool moved = false;         // the row moved to the other database's control table
    bool confirmed = true;      // false: moved, but the new home could not be confirmed (run it again)
    double waited_seconds = 0;  // time spent waiting for writers in flight
};

// Called by set_mode() once it holds the mode row exclusively -- no writer
// in flight, none can start -- and before it changes anything. `home` is the
// session holding the row (the switch's own transaction: what it writes
// there commits with the switch); `control.records()` is the control
// database (the same session while the row is in the source).
// It may throw to refuse the switch; nothing is changed then.
using UnderSwitchLock = std::function<void(ControlRows& control, Connection& home, const ModeState& before, Mode to)>;

// The row writes of a switch from `before` (held at before.place) to `to`,
// in the order they commit: one in place, or -- when the mode's home moves
// (ControlRows::movable(), home_place_of(to) elsewhere) -- `pending:<to>` in
// the new place, `moved:<new place>` over the old home (the moment the
// switch happens), `<to>` in the new place. Each at version before.version
// + 1. Pure: set_mode() runs them, the fence model checks them.
struct RowWrite {
    ControlPlace place;
    ModeRow row;
};
std::vector<RowWrite> switch_writes(const ModeState& before, Mode to, bool movable);

// Switches the mode, fenced; creates the mode row (src_only) first if the
// control table holds none. Throws Error(Code::config) when the control
// table does not exist and `to` is not src_only (nothing is written),
// Error(Code::usage) for an illegal step,
// Error(Code::server, temporary) when writers did not finish within
// `lock_wait` or the new home cannot be written (nothing changed either way),
// and whatever `check` throws. `check` is not called when the mode is
// already `to`. Run again when the mode is already `to`, it finishes a move
// whose confirmation failed (and moves a row an older version left behind).
// This is the bare switch: operators' switches go through switch_mode()
// (gates.h), which checks the step's gate here.
SetModeResult set_mode(ControlRows& control, Mode to, std::chrono::milliseconds lock_wait = std::chrono::seconds(30),
                       const UnderSwitchLock& check = {});
// The same with a row that does not move, in `control`.
SetModeResult set_mode(Connection& control, Mode to, std::chrono::milliseconds lock_wait = std::chrono::seconds(30),
                       const UnderSwitchLock& check = {});

}  // namespace webook
