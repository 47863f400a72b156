#include "migrate/mode_control.h"

#include <fmt/format.h>

#include "core/checkpoint.h"
#include "core/db.h"
#include "core/dialect.h"
#include "core/error.h"
#include "core/log.h"
#include "core/schema.h"

namespace webook {
namespace {

int step_of(Mode m) {
    return static_cast<int>(m);
}

Value now_value() {
    return Value::datetime_micros(std::chrono::duration_cast<std::chrono::microseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count());
}

std::string select_mode_sql(const Dialect& d, std::string_view lock) {
    return fmt::format("SELECT value, version, utime FROM {} WHERE name = {}{}", d.quote(k_control_table),
                       d.placeholder(1), lock);
}

ModeState state_of(const Row& row, const Connection& control) {
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

[[noreturn]] void missing(const Connection& control) {
    throw Error(Code::config, fmt::format("no migration mode in {}: the control table {} or its '{}' row is missing "
                                          "(run 'webookctl db init' or 'webookctl migrate mode set src_only')",
                                          control.describe(), k_control_table, k_mode_row));
}

}  // namespace

bool transition_allowed(Mode from, Mode to, std::string* why) {
    const int a = step_of(from), b = step_of(to);
    if (b == a + 1 || b == a - 1 || a == b) return true;
    if (why) {
        *why = fmt::format("cannot switch from {} to {}: only one step at a time, forward ({}) or back ({})",
                           mode_name(from), mode_name(to),
                           a < 3 ? std::string(mode_name(static_cast<Mode>(a + 1))) : std::string("none"),
                           a > 0 ? std::string(mode_name(static_cast<Mode>(a - 1))) : std::string("none"));
    }
    return false;
}

void ensure_mode_row(Connection& control) {
    CheckpointStore(control).ensure_tables();
    const Dialect& d = control.dialect();
    const std::string sql = d.insert_ignore(k_control_table, {"name", "value", "version", "utime"});
    std::vector<Value> mode{Value::text(k_mode_row), Value::text(std::string(mode_name(Mode::src_only))),
                            Value::integer(0), now_value()};
    control.execute(sql, mode);
    // Second-side write failures of double-writes, counted in `version`.
    std::vector<Value> failures{Value::text("second_side_failures"), Value::text("count"), Value::integer(0),
                                now_value()};
    control.execute(sql, failures);
}

ModeState get_mode(Connection& control) {
    // The row first: every read through a double-write connection asks, and
    // an information_schema lookup per read cost MariaDB 5-20 ms under load.
    // Only a failed read looks for the table, to say what is missing.
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
        missing(control);
    }
    if (!row) missing(control);
    return state_of(*row, control);
}

SetModeResult set_mode(Connection& control, Mode to, std::chrono::seconds lock_wait) {
    // A database without the control table has never been prepared for a
    // migration -- most likely a mistyped DSN. Starting one there (src_only)
    // is harmless; switching it past src_only would tell no writer anything.
    if (to != Mode::src_only && !control.table_exists(k_control_table)) missing(control);
    ensure_mode_row(control);
    const Dialect& d = control.dialect();
    const auto started = std::chrono::steady_clock::now();
    SetModeResult result;
    control.execute(d.lock_timeout(lock_wait));
    Transaction tx(control);
    std::vector<Value> key{Value::text(k_mode_row)};
    std::optional<Row> row;
    try {
        // The exclusive lock: waits for every writer holding the fence.
        row = control.query_one(select_mode_sql(d, d.for_update()), key);
    } catch (const Error& e) {
        if (e.is_temporary())
            throw Error(Code::server,
                        fmt::format("writers in flight did not finish within {}s; the mode was not changed ({})",
                                    lock_wait.count(), e.what()),
                        Temporary::yes);
        throw;
    }
    if (!row) missing(control);
    result.before = state_of(*row, control);
    result.waited_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::string why;
    if (!transition_allowed(result.before.mode, to, &why)) throw Error(Code::usage, why);
    if (result.before.mode == to) {
        result.after = result.before;
        tx.commit();
        return result;
    }
    std::vector<Value> params{Value::text(std::string(mode_name(to))), now_value(), Value::text(k_mode_row)};
    control.execute(fmt::format("UPDATE {} SET value = {}, version = version + 1, utime = {} WHERE name = {}",
                                d.quote(k_control_table), d.placeholder(1), d.placeholder(2), d.placeholder(3)),
                    params);
    tx.commit();
    result.changed = true;
    result.after = get_mode(control);
    log::get("mode")->info("migration mode {} -> {} (version {})", mode_name(result.before.mode),
                           mode_name(result.after.mode), result.after.version);
    return result;
}

ModeFence::ModeFence(Connection& control) : m_control(control) {
    m_control.begin();
    m_held = true;
    try {
        std::vector<Value> key{Value::text(k_mode_row)};
        auto row = m_control.query_one(select_mode_sql(m_control.dialect(), m_control.dialect().for_share()), key);
        if (!row) missing(m_control);
        m_mode = state_of(*row, m_control).mode;
    } catch (...) {
        m_held = false;
        try {
            m_control.rollback();
        } catch (const std::exception&) {
            // The original failure is the one worth reporting.
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
