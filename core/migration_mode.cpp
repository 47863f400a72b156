#include "core/migration_mode.h"

#include <fmt/format.h>

#include "core/db.h"
#include "core/dialect.h"
#include "core/error.h"
#include "core/schema.h"

namespace webook {

std::string_view mode_name(Mode mode) {
    switch (mode) {
    case Mode::src_only: return "src_only";
    case Mode::src_first: return "src_first";
    case Mode::dst_first: return "dst_first";
    case Mode::dst_only: return "dst_only";
    }
    return "src_only";
}

Mode parse_mode(std::string_view name) {
    for (Mode m : {Mode::src_only, Mode::src_first, Mode::dst_first, Mode::dst_only})
        if (mode_name(m) == name) return m;
    throw Error(Code::usage,
                fmt::format("unknown mode '{}' (src_only, src_first, dst_first, dst_only)", name));
}

BaseSide base_side_of(Mode mode) {
    return mode == Mode::src_only || mode == Mode::src_first ? BaseSide::src : BaseSide::dst;
}

Mode read_mode(Connection& control) {
    if (!control.table_exists(k_control_table)) return Mode::src_only;
    const Dialect& d = control.dialect();
    std::vector<Value> params{Value::text(k_mode_row)};
    auto row = with_context("reading the migration mode from " + control.describe(), [&] {
        return control.query_one(fmt::format("SELECT value FROM {} WHERE name = {}", d.quote(k_control_table),
                                             d.placeholder(1)),
                                 params);
    });
    if (!row || (*row)[0].is_null()) return Mode::src_only;
    try {
        return parse_mode((*row)[0].as_string());
    } catch (const Error&) {
        throw Error(Code::data, fmt::format("the control table in {} holds an unknown mode '{}'", control.describe(),
                                            (*row)[0].as_string()));
    }
}

}  // namespace webook
