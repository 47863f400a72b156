#include "core/migration/migration_mode.h"

#include <exception>
#include <optional>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/migration/checkpoint.h"

namespace webook {
namespace {

// At most this many rows read to find the home: a move is two hops; more
// means switches keep moving it meanwhile.
constexpr int k_max_hops = 6;

constexpr std::string_view k_pending_prefix = "pending:";
constexpr std::string_view k_moved_prefix = "moved:";

// The row at `s`, read with `lock` ("" or FOR SHARE / FOR UPDATE: then inside
// a transaction begun here, left open only when a row was found), or nullopt
// when the control table or the row is missing. The row first: every read
// through a double-write connection asks, and an information_schema lookup
// per read cost MariaDB 5-20 ms under load. Only a failed read looks for the
// table, to tell "not there" from a real failure (outside the transaction: a
// missing table aborts a PostgreSQL one).
struct ReadRow {
    ModeRow row;
    Row raw;  // value, version, utime
};
std::optional<ReadRow> read_row(Connection& s, std::string_view lock) {
    const bool locked = !lock.empty();
    std::vector<Value> key{Value::text(k_mode_row)};
    std::optional<Row> row;
    if (locked) s.begin();
    try {
        row = s.query_one(select_mode_sql(s.dialect(), lock), key);
    } catch (const Error& e) {
        if (locked) {
            try {
                s.rollback();
            } catch (const std::exception&) {
                // The first failure says more.
            }
        }
        if (e.is_temporary() || e.code() == Code::connection) throw;
        bool exists = true;
        try {
            exists = s.table_exists(k_control_table);
        } catch (const Error& lookup) {
            if (lookup.is_temporary() || lookup.code() == Code::connection) throw;  // worth retrying
            throw e;                                                                // else the first failure says more
        }
        if (exists) throw;
        return std::nullopt;
    }
    if (!row || (*row)[0].is_null()) {
        if (locked) s.commit();
        return std::nullopt;
    }
    try {
        return ReadRow{mode_row_of(*row, s), std::move(*row)};
    } catch (...) {
        if (locked) s.rollback();
        throw;
    }
}

// The home, found from control.last_home() by next_home_step(). With `lock`,
// the home's row is held (its transaction open) when found. nullopt row: no
// migration has started (`session`: the source's).
struct Found {
    std::optional<ReadRow> row;
    ControlPlace place = ControlPlace::source;
    Connection* session = nullptr;
};

Found find_home(ControlRows& control, bool lock) {
    ControlPlace at = control.last_home();
    std::optional<std::int64_t> pointer;
    bool fell_back = false;
    std::exception_ptr first_failure;  // of the place that did not answer
    for (int hop = 0; hop < k_max_hops; ++hop) {
        Connection* s = nullptr;
        std::optional<ReadRow> row;
        try {
            s = &control.at(at);
            row = read_row(*s, lock ? s->dialect().for_share() : "");
        } catch (const Error& e) {
            control.failed(at, e);
            // The other place's row may be the home; only it can say so.
            if (e.code() == Code::connection && control.movable() && !fell_back && !pointer) {
                first_failure = std::current_exception();
                fell_back = true;
                at = other_place(at);
                continue;
            }
            if (first_failure) std::rethrow_exception(first_failure);
            throw;
        }
        HomeStep step;
        try {
            step = next_home_step(at, row ? std::optional<ModeRow>(row->row) : std::nullopt, pointer, fell_back);
        } catch (...) {  // the rows disagree: end the read's transaction before saying so
            if (row && lock) s->rollback();
            throw;
        }
        switch (step.what) {
        case HomeStep::What::apply: control.found_home(at); return Found{row, at, s};
        case HomeStep::What::no_migration: return Found{std::nullopt, at, s};
        case HomeStep::What::unreachable:
            if (row && lock) s->commit();
            std::rethrow_exception(first_failure);
        case HomeStep::What::go:
            if (row && lock) s->commit();
            at = step.next;
            pointer = step.pointer;
            break;
        }
    }
    throw Error(Code::server,
                fmt::format("the migration mode row moved more than {} times while being read (switches in "
                            "progress); try again",
                            k_max_hops),
                Temporary::yes);
}

std::optional<ModeState> query_mode(ControlRows& control) {
    Found f = find_home(control, false);
    if (!f.row) return std::nullopt;
    return mode_state_of(f.row->raw, *f.session, f.place);
}

}  // namespace

std::string select_mode_sql(const Dialect& d, std::string_view lock) {
    return fmt::format("SELECT value, version, utime FROM {} WHERE name = {}{}", d.quote(k_control_table),
                       d.placeholder(1), lock);
}

ModeRow mode_row_of(const Row& row, const Connection& control) {
    try {
        return parse_mode_row(row[0].as_string(), row[1].as_int());
    } catch (const Error& e) {
        throw Error(Code::data, fmt::format("the control table in {}: {}", control.describe(), e.what()));
    }
}

ModeState mode_state_of(const Row& row, const Connection& control, ControlPlace place) {
    const ModeRow r = mode_row_of(row, control);
    if (r.kind == ModeRow::Kind::moved)
        throw Error(Code::internal, fmt::format("mode_state_of() on a row that moved ({})", mode_row_value(r)));
    ModeState s;
    s.mode = r.mode;
    s.version = r.version;
    s.since = s.version > 0 ? row[2].canonical() : "";
    s.place = place;
    s.confirmed = r.kind == ModeRow::Kind::mode;
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

std::string_view place_name(ControlPlace place) {
    return place == ControlPlace::target ? "target" : "source";
}

ControlPlace other_place(ControlPlace place) {
    return place == ControlPlace::target ? ControlPlace::source : ControlPlace::target;
}

ControlPlace home_place_of(Mode m) {
    return base_side_of(m) == BaseSide::dst ? ControlPlace::target : ControlPlace::source;
}

std::string mode_row_value(const ModeRow& row) {
    switch (row.kind) {
    case ModeRow::Kind::mode: return std::string(mode_name(row.mode));
    case ModeRow::Kind::pending: return fmt::format("{}{}", k_pending_prefix, mode_name(row.mode));
    case ModeRow::Kind::moved: return fmt::format("{}{}", k_moved_prefix, place_name(row.moved_to));
    }
    return "";
}

ModeRow parse_mode_row(std::string_view value, std::int64_t version) {
    ModeRow r;
    r.version = version;
    std::string_view rest = value;
    bool known = true;
    if (rest.starts_with(k_moved_prefix)) {
        rest.remove_prefix(k_moved_prefix.size());
        r.kind = ModeRow::Kind::moved;
        if (rest == "target")
            r.moved_to = ControlPlace::target;
        else if (rest == "source")
            r.moved_to = ControlPlace::source;
        else
            known = false;
    } else {
        if (rest.starts_with(k_pending_prefix)) {
            r.kind = ModeRow::Kind::pending;
            rest.remove_prefix(k_pending_prefix.size());
        }
        try {
            r.mode = parse_mode(rest);
        } catch (const Error&) {
            known = false;
        }
    }
    if (!known)
        throw Error(Code::data, fmt::format("the migration mode row holds '{}', which this version does not know "
                                            "(a mode, 'pending:<mode>' or 'moved:source|target')",
                                            value));
    return r;
}

HomeStep next_home_step(ControlPlace at, const std::optional<ModeRow>& row, std::optional<std::int64_t> pointer,
                        bool fell_back) {
    HomeStep step;
    if (!row) {
        if (at == ControlPlace::source) {
            step.what = fell_back ? HomeStep::What::unreachable : HomeStep::What::no_migration;
            return step;
        }
        // No row in the target: the mode never moved there.
        if (pointer)
            throw Error(Code::data, fmt::format("the source's mode row says it moved to the target at version {}, "
                                                "but the target has no mode row",
                                                *pointer));
        step.what = fell_back ? HomeStep::What::unreachable : HomeStep::What::go;
        step.next = ControlPlace::source;
        return step;
    }
    if (pointer && row->version < *pointer)
        throw Error(Code::data, fmt::format("the mode row in the {} (version {}) is older than the row that "
                                            "points to it (version {})",
                                            place_name(at), row->version, *pointer));
    switch (row->kind) {
    case ModeRow::Kind::mode: step.what = HomeStep::What::apply; return step;
    case ModeRow::Kind::pending:
        // The switch writing it has happened only if the old home points here at that version.
        if (pointer == row->version) {
            step.what = HomeStep::What::apply;
            return step;
        }
        step.what = fell_back ? HomeStep::What::unreachable : HomeStep::What::go;
        step.next = other_place(at);
        return step;
    case ModeRow::Kind::moved:
        if (row->moved_to == at)
            throw Error(Code::data,
                        fmt::format("the mode row in the {} says it moved to the {}", place_name(at), place_name(at)));
        if (fell_back) {  // back to the place that did not answer
            step.what = HomeStep::What::unreachable;
            return step;
        }
        step.what = HomeStep::What::go;
        step.next = row->moved_to;
        step.pointer = row->version;
        return step;
    }
    return step;
}

// -- ControlRows --------------------------------------------------------------

struct ControlRows::Slot {
    ConnectionFactory factory;
    std::unique_ptr<Connection> owned;
    Connection* borrowed = nullptr;
};

ControlRows::ControlRows() = default;
ControlRows::~ControlRows() = default;
ControlRows::ControlRows(ControlRows&&) noexcept = default;
ControlRows& ControlRows::operator=(ControlRows&&) noexcept = default;

ControlRows::ControlRows(ConnectionFactory control) {
    m_slots[0] = std::make_unique<Slot>();
    m_slots[0]->factory = std::move(control);
}

ControlRows::ControlRows(ConnectionFactory source, ConnectionFactory target) : ControlRows(std::move(source)) {
    if (!target) return;
    m_slots[1] = std::make_unique<Slot>();
    m_slots[1]->factory = std::move(target);
    m_movable = true;
}

ControlRows ControlRows::borrowed(Connection& control, Connection* target) {
    ControlRows rows;
    rows.m_slots[0] = std::make_unique<Slot>();
    rows.m_slots[0]->borrowed = &control;
    if (target) {
        rows.m_slots[1] = std::make_unique<Slot>();
        rows.m_slots[1]->borrowed = target;
        rows.m_movable = true;
    }
    return rows;
}

bool ControlRows::movable() const {
    return m_movable;
}

Connection& ControlRows::at(ControlPlace place) {
    Slot* slot = m_slots[place == ControlPlace::target ? 1 : 0].get();
    if (!slot)
        throw Error(Code::config,
                    "the migration mode row has moved to the target's control table (the target is "
                    "authoritative): give this command the target too ([target] dsn or --target)");
    if (slot->borrowed) return *slot->borrowed;
    if (!slot->owned) slot->owned = slot->factory();
    return *slot->owned;
}

void ControlRows::failed(ControlPlace place, const Error& e) {
    Slot* slot = m_slots[place == ControlPlace::target ? 1 : 0].get();
    if (slot && e.code() == Code::connection) slot->owned.reset();
}

bool ControlRows::reset_sessions() {
    bool all = true;
    for (auto& slot : m_slots) {
        if (!slot) continue;
        if (slot->borrowed)
            all = slot->borrowed->reset_session() && all;
        else
            slot->owned.reset();
    }
    return all;
}

std::optional<ModeState> find_mode(ControlRows& control) {
    return query_mode(control);
}

ModeState get_mode(ControlRows& control) {
    auto state = query_mode(control);
    if (!state) throw_no_mode(control.records());
    return *state;
}

ModeState get_mode(Connection& control) {
    ControlRows rows = ControlRows::borrowed(control);
    return get_mode(rows);
}

ModeState read_mode_state(ControlRows& control) {
    return with_context("reading the migration mode", [&] { return query_mode(control).value_or(ModeState{}); });
}

ModeState read_mode_state(Connection& control) {
    ControlRows rows = ControlRows::borrowed(control);
    return with_context("reading the migration mode from " + control.describe(),
                        [&] { return query_mode(rows).value_or(ModeState{}); });
}

Mode read_mode(Connection& control) {
    return read_mode_state(control).mode;
}

std::int64_t mode_clock_us(ControlRows& control) {
    Connection& home = control.at(control.last_home());
    auto row = home.query_one(fmt::format("SELECT {}", home.dialect().now()));
    return row ? (*row)[0].micros() : 0;
}

ModeFence::ModeFence(ControlRows& control, IfNoMigration if_none) {
    take(control, if_none);
}

ModeFence::ModeFence(Connection& control, IfNoMigration if_none)
    : m_own(std::make_unique<ControlRows>(ControlRows::borrowed(control))) {
    take(*m_own, if_none);
}

void ModeFence::take(ControlRows& control, IfNoMigration if_none) {
    Found f = find_home(control, true);
    if (!f.row) {
        if (if_none == IfNoMigration::fail) throw_no_mode(*f.session);
        return;  // no migration: src_only, nothing held
    }
    m_session = f.session;
    m_place = f.place;
    m_mode = f.row->row.mode;
    m_held = true;
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
    m_session->commit();
}

}  // namespace webook
