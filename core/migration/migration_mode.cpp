#include "core/migration/migration_mode.h"

#include <optional>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/migration/checkpoint.h"

namespace webook {
namespace {

// The mode row, or nullopt when the control table or the row is missing.
// The row first: every read through a double-write connection asks, and an
// information_schema lookup per read cost MariaDB 5-20 ms under load. Only a
// failed read looks for the table, to tell "not there" from a real failure.
std::optional<ModeState> query_mode(Connection& control) {
    std::vector<Value> params{Value::text(k_mode_row)};
    std::optional<Row> row;
    try {
        row = control.query_one(select_mode_sql(control.dialect(), ""), params);
    } catch (const Error& e) {
        if (e.is_temporary() || e.code() == Code::connection) throw;
        bool exists = true;
        try {
            exists = control.table_exists(k_control_table);
        } catch (const Error&) {
            throw e;  // the first failure says more
        }
        if (exists) throw;
        return std::nullopt;
    }
    if (!row || (*row)[0].is_null()) return std::nullopt;
    return mode_state_of(*row, control);
}

}  // namespace

std::string select_mode_sql(const Dialect& d, std::string_view lock) {
    return fmt::format("SELECT value, version, utime FROM {} WHERE name = {}{}", d.quote(k_control_table),
                       d.placeholder(1), lock);
}

ModeState mode_state_of(const Row& row, const Connection& control) {
    ModeState s;
    try {
        s.mode = parse_mode(row[0].as_string());
    } catch (const Error&) {
        throw Error(Code::data, fmt::format("the control table in {} holds an unknown mode '{}'", control.describe(),
                                            row[0].as_string()));
    }
    s.version = row[1].as_int();
    s.since = s.version > 0 ? row[2].canonical() : "";
    return s;
}

void throw_no_mode(const Connection& control) {
    throw Error(Code::config, fmt::format("no migration mode in {}: the control table {} or its '{}' row is missing "
                                          "(run 'webookctl db init' or 'webookctl migrate mode set src_only')",
                                          control.describe(), k_control_table, k_mode_row));
}

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
    throw Error(Code::usage, fmt::format("unknown mode '{}' (src_only, src_first, dst_first, dst_only)", name));
}

BaseSide base_side_of(Mode mode) {
    return mode == Mode::src_only || mode == Mode::src_first ? BaseSide::src : BaseSide::dst;
}

std::string copy_refusal(Mode mode) {
    switch (mode) {
    case Mode::src_only: return "";
    case Mode::src_first:
        return "the migration is in src_first: the target takes double-writes, which a copy "
               "would overwrite with "
               "older source rows; to copy again, roll back first ('webookctl migrate mode set "
               "src_only')";
    case Mode::dst_first:
        return "the migration is in dst_first: the target is authoritative (users' writes go "
               "there first) and a copy "
               "would replace it with the stale source; to copy again, roll back first "
               "('webookctl migrate mode set "
               "src_first', then 'src_only')";
    case Mode::dst_only:
        return "the migration is in dst_only: the target is the only side written and a copy "
               "would replace it with "
               "the stale source; to copy again, roll back first ('webookctl migrate mode set "
               "dst_first', then "
               "'src_first', then 'src_only')";
    }
    return "";
}

BaseSide fix_base(Mode current, BaseSide /*event_base*/) {
    return base_side_of(current);
}

ModeState get_mode(Connection& control) {
    auto state = query_mode(control);
    if (!state) throw_no_mode(control);
    return *state;
}

ModeState read_mode_state(Connection& control) {
    return with_context("reading the migration mode from " + control.describe(),
                        [&] { return query_mode(control).value_or(ModeState{}); });
}

Mode read_mode(Connection& control) {
    return read_mode_state(control).mode;
}

ModeFence::ModeFence(Connection& control, IfNoMigration if_none) : m_control(control) {
    m_control.begin();
    m_held = true;
    try {
        std::vector<Value> key{Value::text(k_mode_row)};
        std::optional<Row> row;
        try {
            row = m_control.query_one(select_mode_sql(m_control.dialect(), m_control.dialect().for_share()), key);
        } catch (const Error& e) {
            // A missing table aborts a PostgreSQL transaction: look for it
            // outside the fence's.
            if (e.is_temporary() || e.code() == Code::connection || if_none == IfNoMigration::fail) throw;
            m_held = false;
            m_control.rollback();
            if (m_control.table_exists(k_control_table)) throw;
            return;  // no migration: src_only, nothing held
        }
        if (!row) {
            if (if_none == IfNoMigration::fail) throw_no_mode(m_control);
            release();
            return;
        }
        m_mode = mode_state_of(*row, m_control).mode;
    } catch (...) {
        if (m_held) {
            m_held = false;
            try {
                m_control.rollback();
            } catch (const std::exception&) {
                // The original failure is the one worth reporting.
            }
        }
        throw;
    }
}

ModeFence::~ModeFence() {
    try {
        release();
    } catch (const std::exception& e) {
        log::get("mode")->debug("releasing the mode fence: {}", e.what());
    }
}

void ModeFence::release() {
    if (!m_held) return;
    m_held = false;
    m_control.commit();
}

}  // namespace webook
