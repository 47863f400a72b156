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
// docs/writer-protocol.md says the same for services in other languages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/db/value.h"
#include "core/migration/event.h"

namespace webook {

class Connection;
class Dialect;

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

// -- Reading the mode --------------------------------------------------------

struct ModeState {
    Mode mode = Mode::src_only;
    std::int64_t version = 0;  // bumped by every switch
    std::string since;         // when the mode was set, UTC; "" before the first switch
};

// The current mode. Throws Error(Code::config) when the control table or the
// mode row is missing ("run 'webookctl db init' or 'migrate mode set'").
ModeState get_mode(Connection& control);

// The current mode; src_only (version 0) when no migration has started (no
// control table, or no mode row).
Mode read_mode(Connection& control);
ModeState read_mode_state(Connection& control);

// The mode row's query, with a lock clause (the switch takes it FOR UPDATE),
// and what a row of it says. Throws Error(Code::data) for an unknown mode.
std::string select_mode_sql(const Dialect& d, std::string_view lock);
ModeState mode_state_of(const Row& row, const Connection& control);
// Throws Error(Code::config): no control table or mode row in `control`.
[[noreturn]] void throw_no_mode(const Connection& control);

// What a fence does where no migration has started.
enum class IfNoMigration {
    fail,      // Error(Code::config), as get_mode()
    src_only,  // hold nothing and report src_only: nothing can switch a mode that is not there
};

// A writer's hold on the mode: BEGIN on `control` and read the mode row FOR
// SHARE; release() (or the destructor) ends that transaction. `control` must
// be a connection of the fence's own: anything else run on it while the fence
// is held commits only with the fence.
class ModeFence {
public:
    explicit ModeFence(Connection& control, IfNoMigration if_none = IfNoMigration::fail);
    ~ModeFence();
    ModeFence(const ModeFence&) = delete;
    ModeFence& operator=(const ModeFence&) = delete;

    Mode mode() const { return m_mode; }
    // False when no migration has started (IfNoMigration::src_only).
    bool held() const { return m_held; }
    void release();

private:
    Connection& m_control;
    Mode m_mode = Mode::src_only;
    bool m_held = false;
};

}  // namespace webook
