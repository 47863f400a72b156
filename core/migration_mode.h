// The migration mode (SPEC.md "The four migration phases"), as stored in the
// control table row name = 'migration_mode'. Reading it lives in core so that
// validation and fixing can follow it; switching it (fenced, one step at a
// time) belongs to migrate/.
#pragma once

#include <string_view>

#include "core/event.h"

namespace webook {

class Connection;

enum class Mode { src_only, src_first, dst_first, dst_only };

inline constexpr const char* k_mode_row = "migration_mode";

std::string_view mode_name(Mode mode);
// Throws Error(Code::usage) listing the four modes.
Mode parse_mode(std::string_view name);

// The authoritative side: the source until dst_first.
BaseSide base_side_of(Mode mode);

// The current mode from the control table; src_only when the row or the
// control table does not exist yet.
Mode read_mode(Connection& control);

}  // namespace webook
