// A validation pass over the migration's tables, following the mode -- and
// `validate --follow`, pass after pass.
//
// The base side is the current mode's unless the caller fixes it (--base).
// The mode is read before each pass and again after it: a pass during which
// a switch changed the base is redone with the new base (an incremental pass
// first puts every table's watermark back where the pass found it, so the
// redo covers the same rows), and only the redone pass is reported. No pass is
// reported with a base that stopped being authoritative while it ran. Events
// the abandoned pass had already sent name the old base; the fixer repairs
// them from the current one (fixers/fixer.h), so they do no harm.
//
// Each table's pass is recorded in the control table (core/migration/checkpoint.h
// PassRecord): base, kind, start, end, what it found. The switch gates
// (migrate/gates.h) decide from those records.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "core/migration/migration_mode.h"
#include "core/migration/throttle.h"
#include "validate/validation.h"

namespace webook {

enum class Validator { full, incremental };
enum class Follow { no, yes };

struct PassOptions {
    Validator validator = Validator::full;  // default: full
    std::optional<BaseSide> base;           // default: the mode's, re-read every pass
    ValidateOptions validate;               // its `base` is set per pass
    int max_redos = 5;                      // passes redone in a row before giving up; default: 5
};

struct PassReport {
    Mode mode = Mode::src_only;  // when the (last, reported) pass began
    BaseSide base = BaseSide::src;
    std::vector<TableReport> tables;
    std::uint64_t differences = 0;
    int redone = 0;                     // passes abandoned because a switch changed the base
    std::uint64_t control_retries = 0;  // the control database's operations retried (the tables' own: TableReport)
};

// One pass over `plans` (see the top of this file). `control` holds the mode
// (its home's clock times the pass, as it times the second-side failures)
// and the checkpoints (`checkpoints` must be over control.records()). Throws like
// validate_full()/validate_incremental(), and Error(Code::server, temporary)
// when the base changed under options.max_redos passes in a row.
PassReport run_pass(SideConnections conns, ControlRows& control, const std::vector<TablePlan>& plans,
                    const PassOptions& options, EventSink& sink, CheckpointStore& checkpoints);

// Passes until interrupted (Error(Code::interrupted), between passes or
// inside one) with Follow::yes, `interval` apart (default for callers:
// k_follow_interval); one pass with Follow::no.
// `on_pass` renders each pass as it ends (events are flushed by then).
// Returns the differences of all passes.
inline constexpr std::chrono::microseconds k_follow_interval = std::chrono::seconds(30);

std::uint64_t run_passes(SideConnections conns, ControlRows& control, const std::vector<TablePlan>& plans,
                         const PassOptions& options, EventSink& sink, CheckpointStore& checkpoints, Follow follow,
                         std::chrono::microseconds interval, const std::function<void(const PassReport&)>& on_pass,
                         Clock& clock = Clock::real());

}  // namespace webook
