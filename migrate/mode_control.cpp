#include "migrate/mode_control.h"

#include <fmt/format.h>

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/migration/checkpoint.h"

namespace webook {
namespace {

int step_of(Mode m) {
    return static_cast<int>(m);
}

Value now_value() {
    return Value::datetime_micros(system_micros());
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

SetModeResult set_mode(Connection& control, Mode to, std::chrono::milliseconds lock_wait,
                       const UnderSwitchLock& check) {
    // A database without the control table has never been prepared for a
    // migration -- most likely a mistyped DSN. Starting one there (src_only)
    // is harmless; switching it past src_only would tell no writer anything.
    if (to != Mode::src_only && !control.table_exists(k_control_table)) throw_no_mode(control);
    ensure_mode_row(control);
    const Dialect& d = control.dialect();
    const auto started = std::chrono::steady_clock::now();
    SetModeResult result;
    control.execute(d.lock_timeout(lock_wait));
    Transaction tx(control);
    std::vector<Value> key{Value::text(k_mode_row)};
    std::optional<Row> row;
    try {
        // The exclusive lock: waits for every writer holding the fence (and
        // makes writers arriving later queue behind it, on either engine).
        if (std::string queue = d.queue_later_lockers(k_control_table); !queue.empty()) control.execute(queue);
        row = control.query_one(select_mode_sql(d, d.for_update()), key);
    } catch (const Error& e) {
        if (e.is_temporary())
            throw Error(Code::server,
                        fmt::format("writers in flight did not finish within {:.3g}s; the mode was "
                                    "not changed ({})",
                                    std::chrono::duration<double>(lock_wait).count(), e.what()),
                        Temporary::yes);
        throw;
    }
    if (!row) throw_no_mode(control);
    result.before = mode_state_of(*row, control);
    result.waited_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::string why;
    if (!transition_allowed(result.before.mode, to, &why)) throw Error(Code::usage, why);
    if (result.before.mode == to) {
        result.after = result.before;
        tx.commit();
        return result;
    }
    if (check) check(control, result.before, to);
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

}  // namespace webook
