// The migration mode state machine and its fence (SPEC.md "The four
// migration phases").
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
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/migration_mode.h"

namespace webook {

class Connection;

struct ModeState {
    Mode mode = Mode::src_only;
    std::int64_t version = 0;   // bumped by every switch
    std::string since;          // when the mode was set, UTC; "" before the first switch
};

// Whether `to` may follow `from`; `why` says why not.
bool transition_allowed(Mode from, Mode to, std::string* why);

// Creates the control tables and the mode row (src_only) if missing.
void ensure_mode_row(Connection& control);

// The current mode. Throws Error(Code::config) when the control table or the
// mode row is missing ("run 'webookctl db init' or 'migrate mode set'").
ModeState get_mode(Connection& control);

struct SetModeResult {
    ModeState before;
    ModeState after;
    bool changed = false;  // false when already in that mode
    double waited_seconds = 0;  // time spent waiting for writers in flight
};

// Switches the mode, fenced; creates the mode row (src_only) first if the
// control table holds none. Throws Error(Code::config) when the control
// table does not exist and `to` is not src_only (nothing is written),
// Error(Code::usage) for an illegal step,
// Error(Code::server, temporary) when writers did not finish within
// `lock_wait`.
SetModeResult set_mode(Connection& control, Mode to, std::chrono::seconds lock_wait = std::chrono::seconds(30));

// A writer's hold on the mode: BEGIN on the control connection and read the
// mode row FOR SHARE; release() (or the destructor) ends that transaction.
class ModeFence {
public:
    explicit ModeFence(Connection& control);
    ~ModeFence();
    ModeFence(const ModeFence&) = delete;
    ModeFence& operator=(const ModeFence&) = delete;

    Mode mode() const { return m_mode; }
    void release();

private:
    Connection& m_control;
    Mode m_mode = Mode::src_only;
    bool m_held = false;
};

}  // namespace webook
