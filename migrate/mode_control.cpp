#include "migrate/mode_control.h"

#include <fmt/format.h>

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/migration/checkpoint.h"
#include "migrate/double_write.h"

namespace webook {
namespace {

int step_of(Mode m) {
    return static_cast<int>(m);
}

Value now_value() {
    return Value::datetime_micros(system_micros());
}

constexpr const char* k_failures_row = "second_side_failures";

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

std::vector<RowWrite> switch_writes(const ModeState& before, Mode to, bool movable) {
    const std::int64_t v = before.version + 1;
    const ControlPlace there = movable ? home_place_of(to) : ControlPlace::source;
    const ModeRow holding{ModeRow::Kind::mode, to, ControlPlace::source, v};
    if (there == before.place) return {{before.place, holding}};
    return {{there, ModeRow{ModeRow::Kind::pending, to, ControlPlace::source, v}},
            {before.place, ModeRow{ModeRow::Kind::moved, to, there, v}},
            {there, holding}};
}

namespace {

// Sets the mode row to `row` (value and version), under the caller's lock.
void write_row(Connection& c, const ModeRow& row) {
    const Dialect& d = c.dialect();
    std::vector<Value> params{Value::text(mode_row_value(row)), Value::integer(row.version), now_value(),
                              Value::text(k_mode_row)};
    c.execute(
        fmt::format("UPDATE {} SET value = {}, version = {}, utime = {} WHERE name = {}", d.quote(k_control_table),
                    d.placeholder(1), d.placeholder(2), d.placeholder(3), d.placeholder(4)),
        params);
}

// The new home before the switch points to it: its control tables, the mode
// row `pending` and the second-side failures counted so far (writers count
// theirs where their fence is, so the new home's count goes on from the old
// one's). A session of its own, committed here.
void prepare_new_home(Connection& next, const ModeRow& pending, const SecondSideFailures& failures,
                      std::chrono::milliseconds lock_wait) {
    CheckpointStore(next).ensure_tables();
    const Dialect& d = next.dialect();
    next.execute(d.lock_timeout(lock_wait));
    Transaction tx(next);
    const std::string insert = d.insert_ignore(k_control_table, {"name", "value", "version", "utime"});
    std::vector<Value> mode{Value::text(k_mode_row), Value::text(mode_row_value(pending)),
                            Value::integer(pending.version), now_value()};
    next.execute(insert, mode);
    write_row(next, pending);
    std::vector<Value> count{Value::text(k_failures_row), Value::text("count"), Value::integer(0), now_value()};
    next.execute(insert, count);
    std::vector<Value> set{Value::integer(static_cast<std::int64_t>(failures.count)),
                           failures.last_us ? Value::datetime_micros(*failures.last_us) : now_value(),
                           Value::text(k_failures_row)};
    next.execute(fmt::format("UPDATE {} SET version = {}, utime = {} WHERE name = {}", d.quote(k_control_table),
                             d.placeholder(1), d.placeholder(2), d.placeholder(3)),
                 set);
    tx.commit();
}

// `pending:<to>` -> `<to>` in the new home, once the old one points there.
void confirm_new_home(Connection& next, const ModeRow& holding, std::chrono::milliseconds lock_wait) {
    const Dialect& d = next.dialect();
    next.execute(d.lock_timeout(lock_wait));
    Transaction tx(next);
    if (std::string queue = d.queue_later_lockers(k_control_table); !queue.empty()) next.execute(queue);
    ModeRow pending = holding;
    pending.kind = ModeRow::Kind::pending;
    std::vector<Value> params{Value::text(mode_row_value(holding)), Value::text(k_mode_row),
                              Value::text(mode_row_value(pending)), Value::integer(holding.version)};
    next.execute(
        fmt::format("UPDATE {} SET value = {} WHERE name = {} AND value = {} AND version = {}",
                    d.quote(k_control_table), d.placeholder(1), d.placeholder(2), d.placeholder(3), d.placeholder(4)),
        params);
    tx.commit();
}

}  // namespace

SetModeResult set_mode(ControlRows& rows, Mode to, std::chrono::milliseconds lock_wait, const UnderSwitchLock& check) {
    // Where the row is now, unlocked (the locked read below must agree).
    std::optional<ModeState> found = find_mode(rows);
    if (!found) {
        // A database without the control table has never been prepared for a
        // migration -- most likely a mistyped DSN. Starting one there
        // (src_only) is harmless; switching it past src_only would tell no
        // writer anything.
        Connection& control = rows.records();
        if (to != Mode::src_only && !control.table_exists(k_control_table)) throw_no_mode(control);
        ensure_mode_row(control);
        found = find_mode(rows);
        if (!found) throw_no_mode(control);
    }
    Connection& home = rows.at(found->place);
    const Dialect& d = home.dialect();
    const auto started = std::chrono::steady_clock::now();
    SetModeResult result;
    home.execute(d.lock_timeout(lock_wait));
    Transaction tx(home);
    std::vector<Value> key{Value::text(k_mode_row)};
    std::optional<Row> row;
    try {
        // The exclusive lock: waits for every writer holding the fence (and
        // makes writers arriving later queue behind it, on either engine).
        if (std::string queue = d.queue_later_lockers(k_control_table); !queue.empty()) home.execute(queue);
        row = home.query_one(select_mode_sql(d, d.for_update()), key);
    } catch (const Error& e) {
        if (e.is_temporary())
            throw Error(Code::server,
                        fmt::format("writers in flight did not finish within {:.3g}s; the mode was "
                                    "not changed ({})",
                                    std::chrono::duration<double>(lock_wait).count(), e.what()),
                        Temporary::yes);
        throw;
    }
    if (!row) throw_no_mode(home);
    if (const ModeRow locked = mode_row_of(*row, home);
        locked.kind == ModeRow::Kind::moved || locked.version != found->version)
        throw Error(Code::server, "the mode changed while this switch was waiting for its lock; run it again",
                    Temporary::yes);
    result.before = mode_state_of(*row, home, found->place);
    result.waited_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::string why;
    if (!transition_allowed(result.before.mode, to, &why)) throw Error(Code::usage, why);
    if (!result.before.confirmed) {
        // A move whose last step failed: finish it first. (Left pending, the
        // home could lose the pointer to it -- a move back writes over it --
        // and unlocked readers could not tell it is the home.)
        write_row(home, ModeRow{ModeRow::Kind::mode, result.before.mode, ControlPlace::source, result.before.version});
        tx.commit();
        log::get("mode")->info("confirmed the migration mode {} in the {}'s control table",
                               mode_name(result.before.mode), place_name(found->place));
        if (result.before.mode == to) {
            result.after = get_mode(rows);
            return result;
        }
        return set_mode(rows, to, lock_wait, check);  // the switch, from a confirmed home
    }
    const std::vector<RowWrite> writes = switch_writes(result.before, to, rows.movable());
    if (result.before.mode == to && writes.size() == 1) {
        tx.commit();
        result.after = get_mode(rows);
        return result;
    }
    if (check && result.before.mode != to) check(rows, home, result.before, to);
    if (writes.size() == 1) {
        write_row(home, writes[0].row);
        tx.commit();
    } else {
        // The mode moves with the authoritative side (migration_mode.h).
        const ControlPlace there = writes[0].place;
        try {
            prepare_new_home(rows.at(there), writes[0].row, read_second_side_failures(home), lock_wait);
        } catch (const Error& e) {
            rows.failed(there, e);
            throw Error(Code::server,
                        fmt::format("could not prepare the {}'s control table for the mode ({}); the mode was not "
                                    "changed",
                                    place_name(there), e.what()),
                        Temporary::yes);
        }
        write_row(home, writes[1].row);
        tx.commit();  // the switch: writers queued behind it follow the row to its new home
        result.moved = true;
        try {
            confirm_new_home(rows.at(there), writes[2].row, lock_wait);
        } catch (const Error& e) {
            rows.failed(there, e);
            result.confirmed = false;
            log::get("mode")->warn(
                "the mode is {} and its row moved to the {}, but confirming it there failed "
                "({}): run 'webookctl migrate mode set {}' again; until then a writer that "
                "cannot reach the source cannot write",
                mode_name(to), place_name(there), e.what(), mode_name(to));
        }
    }
    result.changed = result.before.mode != to;
    result.after = get_mode(rows);
    log::get("mode")->info(
        "migration mode {} -> {} (version {}{})", mode_name(result.before.mode), mode_name(result.after.mode),
        result.after.version,
        result.moved ? fmt::format("; its row moved to the {}", place_name(result.after.place)) : "");
    return result;
}

SetModeResult set_mode(Connection& control, Mode to, std::chrono::milliseconds lock_wait,
                       const UnderSwitchLock& check) {
    ControlRows rows = ControlRows::borrowed(control);
    return set_mode(rows, to, lock_wait, check);
}

}  // namespace webook
