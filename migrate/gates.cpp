#include "migrate/gates.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/messaging/kafka.h"
#include "core/migration/checkpoint.h"
#include "core/migration/table_plan.h"
#include "migrate/double_write.h"

namespace webook {
namespace {

// "43m", "2h05m", "12s": how long ago, for people.
std::string span_text(std::int64_t micros) {
    const std::int64_t s = std::max<std::int64_t>(micros / 1'000'000, 0);
    if (s < 120) return fmt::format("{}s", s);
    if (s < 7200) return fmt::format("{}m", s / 60);
    return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
}

// "i/n" -> (i, n); nullopt for "all" or anything else.
std::optional<std::pair<int, int>> shard_numbers(const std::string& shard) {
    const auto slash = shard.find('/');
    if (slash == std::string::npos) return std::nullopt;
    int i = 0, n = 0;
    auto [p1, e1] = std::from_chars(shard.data(), shard.data() + slash, i);
    auto [p2, e2] = std::from_chars(shard.data() + slash + 1, shard.data() + shard.size(), n);
    if (e1 != std::errc() || e2 != std::errc() || i < 1 || n < 1 || i > n) return std::nullopt;
    return std::pair{i, n};
}

// The records that speak for the whole table: the "all" one, else a complete
// set of shards 1/n..n/n (the one with the most recent pass when several n
// were used). Empty when neither exists.
template <typename T, typename ShardOf>
std::vector<const T*> whole_table(const std::vector<T>& items, ShardOf shard_of) {
    std::map<int, std::map<int, const T*>> by_n;
    for (const T& item : items) {
        if (shard_of(item) == "all") return {&item};
        if (auto in = shard_numbers(shard_of(item))) by_n[in->second][in->first] = &item;
    }
    for (auto it = by_n.rbegin(); it != by_n.rend(); ++it) {
        if (static_cast<int>(it->second.size()) != it->first) continue;
        std::vector<const T*> out;
        for (const auto& [i, item] : it->second) out.push_back(item);
        return out;
    }
    return {};
}

void copy_gate(const TableEvidence& t, std::vector<std::string>& unmet) {
    const auto copies = whole_table(t.copies, [](const CopyProgress& c) { return c.shard; });
    if (copies.empty()) {
        unmet.push_back(t.copies.empty()
                            ? fmt::format("{}: not copied (run 'webookctl migrate copy --table {}')", t.table, t.table)
                            : fmt::format("{}: not every shard of its copy has run", t.table));
    } else {
        for (const CopyProgress* c : copies)
            if (!c->finished)
                unmet.push_back(
                    fmt::format("{}{}: copy unfinished (run 'webookctl migrate copy --table {} --resume{}')", t.table,
                                c->shard == "all" ? "" : " shard " + c->shard, t.table,
                                c->shard == "all" ? "" : " --shard " + c->shard));
    }
    if (!t.pending_indexes.empty()) {
        std::string names;
        for (const auto& n : t.pending_indexes) names += (names.empty() ? "" : ", ") + n;
        unmet.push_back(
            fmt::format("{}: deferred indexes not rebuilt yet: {} (a copy of the table rebuilds them: "
                        "'webookctl migrate copy --table {} --resume')",
                        t.table, names, t.table));
    }
    if (t.unreadable)
        unmet.push_back(fmt::format("{}: its unique indexes could not be checked: {}", t.table, *t.unreadable));
    for (const auto& ix : t.missing_unique)
        unmet.push_back(fmt::format("{}: the target lacks the source's unique index {} (double-write upserts need it)",
                                    t.table, ix));
}

void validation_gate(const GateInput& in, const TableEvidence& t, std::vector<std::string>& unmet) {
    // Forward: the base of the phase being left (what its validation uses);
    // back: the base after the step (it must hold what the other side got).
    const bool forward = static_cast<int>(in.to) > static_cast<int>(in.from);
    const BaseSide need = base_side_of(forward ? in.from : in.to);
    const std::string again =
        fmt::format("run 'webookctl validate --incremental --table {} --base {}'", t.table, base_side_name(need));
    const auto passes = whole_table(t.passes, [](const PassRecord& p) { return p.shard; });
    if (passes.empty()) {
        unmet.push_back(fmt::format("{}: no incremental validation pass recorded ({})", t.table, again));
        return;
    }
    for (const PassRecord* p : passes) {
        const std::string who = p->shard == "all" ? t.table : t.table + " shard " + p->shard;
        if (p->base != need)
            unmet.push_back(fmt::format("{}: last incremental pass had base {}, the step needs one with base {} ({})",
                                        who, base_side_name(p->base), base_side_name(need), again));
        else if (!p->continued)
            unmet.push_back(
                fmt::format("{}: last incremental pass started at --since instead of the table's "
                            "watermark ({} without --since)",
                            who, again));
        else if (p->mode_version != in.from_version)
            unmet.push_back(
                fmt::format("{}: last incremental pass began in an earlier phase ({}), before the switch "
                            "to {} ({})",
                            who, p->mode.empty() ? "unknown" : p->mode, mode_name(in.from), again));
        else if (p->found > 0)
            unmet.push_back(fmt::format("{}: last incremental pass found {} difference{} (fix them, then {})", who,
                                        p->found, p->found == 1 ? "" : "s", again));
        else if (in.now_us - p->ended_us > std::chrono::duration_cast<std::chrono::microseconds>(in.max_age).count())
            unmet.push_back(fmt::format(
                "{}: last clean incremental pass {} ago (max {}; {})", who, span_text(in.now_us - p->ended_us),
                span_text(std::chrono::duration_cast<std::chrono::microseconds>(in.max_age).count()), again));
        else if (in.last_failure_us && p->started_us <= *in.last_failure_us)
            unmet.push_back(
                fmt::format("{}: a second-side write failed {} ago, after its last clean pass began "
                            "({})",
                            who, span_text(in.now_us - *in.last_failure_us), again));
    }
}

}  // namespace

GateVerdict check_gate(const GateInput& in) {
    GateVerdict v;
    if (in.from == in.to || !transition_allowed(in.from, in.to, nullptr)) return v;
    if (in.tables.empty()) {
        v.unmet.push_back(
            "no table of the migration is known (list them under [[tables]] in the config, or copy "
            "them: 'webookctl migrate copy --table T')");
        return v;
    }
    const bool to_double_writes = in.from == Mode::src_only && in.to == Mode::src_first;
    for (const auto& t : in.tables) {
        if (to_double_writes)
            copy_gate(t, v.unmet);
        else
            validation_gate(in, t, v.unmet);
    }
    if (!to_double_writes && in.fixer_lag && *in.fixer_lag > 0)
        v.unmet.push_back(fmt::format("fixer group {} has {} unprocessed event{} (let the fixers catch up)",
                                      in.fixer_group, *in.fixer_lag, *in.fixer_lag == 1 ? "" : "s"));
    return v;
}

std::vector<std::string> migration_tables(const std::vector<TableConfig>& configured,
                                          const std::vector<Checkpoint>& checkpoints) {
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (const auto& t : configured)
        if (seen.insert(t.name).second) out.push_back(t.name);
    for (const auto& c : records_of<CopyProgress>(checkpoints))
        if (seen.insert(c.table).second) out.push_back(c.table);
    return out;
}

IndexEvidence unique_index_evidence(Connection* source, Connection* target, const TableConfig& table) {
    IndexEvidence e;
    if (!source || !target) {
        e.unreadable = "the target is not configured (--target, WEBOOKCTL_TARGET_DSN or [target] dsn)";
        return e;
    }
    try {
        const TablePlan plan = plan_table(*source, *target, table, IgnoredColumns::carried);
        std::set<std::vector<std::size_t>> on_target;
        for (auto k : plan.target.unique_keys) {
            std::sort(k.begin(), k.end());
            on_target.insert(k);
        }
        for (auto k : plan.source.unique_keys) {
            std::sort(k.begin(), k.end());
            if (on_target.count(k)) continue;
            std::string cols;
            for (std::size_t i : k) cols += (cols.empty() ? "" : ", ") + plan.source.columns[i];
            e.missing_unique.push_back("(" + cols + ")");
        }
    } catch (const Error& err) {
        e.unreadable = err.what();
    }
    return e;
}

GateInput gather_gate_input(Connection& records, Connection& home, const ModeState& from, Mode to,
                            const std::vector<std::string>& tables,
                            const std::vector<std::pair<std::string, IndexEvidence>>& indexes,
                            std::chrono::seconds max_age) {
    GateInput in;
    in.from = from.mode;
    in.from_version = from.version;
    in.to = to;
    in.max_age = max_age;
    in.now_us = control_clock_us(home);  // the passes' clock too (validate/pass.cpp)
    const SecondSideFailures failures = read_second_side_failures(home);
    if (failures.count > 0) in.last_failure_us = failures.last_us;
    std::vector<Checkpoint> all;
    if (records.table_exists(k_checkpoint_table)) all = CheckpointStore(records).load_all();
    const std::vector<PassRecord> passes = records_of<PassRecord>(all);
    const std::vector<CopyProgress> copies = records_of<CopyProgress>(all);
    const std::vector<DeferredIndex> deferred = records_of<DeferredIndex>(all);
    for (const auto& name : tables) {
        TableEvidence t;
        t.table = name;
        for (const auto& c : copies)
            if (c.table == name) t.copies.push_back(c);
        for (const auto& ix : deferred)
            if (ix.table == name) t.pending_indexes.push_back(ix.name);
        for (const auto& p : passes)
            if (p.table == name && p.kind == PassKind::incremental) t.passes.push_back(p);
        for (const auto& [table, ix] : indexes)
            if (table == name) {
                t.missing_unique = ix.missing_unique;
                t.unreadable = ix.unreadable;
            }
        in.tables.push_back(std::move(t));
    }
    return in;
}

namespace {

std::string_view side_word(BaseSide b) {
    return b == BaseSide::dst ? "target" : "source";
}

std::string refusal(Mode from, Mode to, const GateVerdict& v) {
    std::string list;
    for (const auto& u : v.unmet) list += (list.empty() ? "" : "; ") + u;
    return fmt::format(
        "not switching from {} to {}: {} precondition{} unmet: {} (to switch anyway: --force "
        "--reason "
        "TEXT, recorded)",
        mode_name(from), mode_name(to), v.unmet.size(), v.unmet.size() == 1 ? "" : "s", list);
}

void record_forced(Connection& control, const ModeState& before, Mode to, const SwitchRequest& req,
                   const GateVerdict& v, std::int64_t at_us) {
    CheckpointStore store(control);
    save_record(store, ForcedSwitch{before.mode, to, before.version + 1, req.who, at_us, *req.force_reason, v.unmet});
}

}  // namespace

SwitchOutcome switch_mode(ControlRows& control, Connection* source, Connection* target, const SwitchRequest& req) {
    if (req.force_reason && req.force_reason->find_first_not_of(" \t") == std::string::npos)
        throw Error(Code::usage, "--force needs a --reason saying why (it is recorded)");
    SwitchOutcome out;
    const std::optional<ModeState> found = find_mode(control);
    if (!found && req.to != Mode::src_only && !control.records().table_exists(k_control_table))
        throw_no_mode(control.records());
    out.before = found.value_or(ModeState{});
    std::string why;
    if (!transition_allowed(out.before.mode, req.to, &why)) throw Error(Code::usage, why);

    // The slow part of the evidence first, while writers go on.
    Connection& records = control.records();
    std::vector<Checkpoint> all;
    if (records.table_exists(k_checkpoint_table)) all = CheckpointStore(records).load_all();
    const std::vector<std::string> tables = migration_tables(req.tables, all);
    std::vector<std::pair<std::string, IndexEvidence>> indexes;
    if (out.before.mode == Mode::src_only && req.to == Mode::src_first) {
        for (const auto& name : tables) {
            TableConfig config;
            config.name = name;
            for (const auto& t : req.tables)
                if (t.name == name) config = t;
            indexes.emplace_back(name, unique_index_evidence(source, target, config));
        }
    }

    // A step that makes the other side the base: that side's id sequences
    // are behind the rows the old base's writes gave it (double-writes and
    // fixes carry explicit ids), and from the switch on its own inserts take
    // default ids. Which tables have one is read now; the move is made under
    // the lock, when no writer is in flight.
    std::vector<SidePlan> identities;
    Connection* new_base = nullptr;
    const bool base_changes = base_side_of(out.before.mode) != base_side_of(req.to);
    if (base_changes && req.dry_run == DryRun::no) {
        const BaseSide b = base_side_of(req.to);
        new_base = b == BaseSide::dst ? target : source;
        if (!new_base)
            throw Error(Code::usage,
                        fmt::format("the switch to {} makes the {} the base, and its id sequences are moved past "
                                    "the rows written with the other side's ids: it needs a connection to the {}",
                                    mode_name(req.to), side_word(b), side_word(b)));
        for (const auto& name : tables)
            if (auto side = identity_plan(*new_base, name)) identities.push_back(std::move(*side));
    }

    std::optional<std::int64_t> lag;
    if (!req.fixer_group.empty() && !(out.before.mode == Mode::src_only && req.to == Mode::src_first))
        lag = consumer_group_lag(req.fixer_brokers, req.fixer_group, req.fixer_topic);
    auto evidence = [&](Connection& home, const ModeState& from, Mode to) {
        GateInput in = gather_gate_input(control.records(), home, from, to, tables, indexes, req.max_age);
        in.fixer_lag = lag;
        in.fixer_group = req.fixer_group;
        return in;
    };

    if (req.dry_run == DryRun::yes) {
        out.after = out.before;
        out.verdict = check_gate(evidence(control.at(control.last_home()), out.before, req.to));
        return out;
    }
    SetModeResult r = set_mode(
        control, req.to, req.lock_wait, [&](ControlRows& rows, Connection& home, const ModeState& before, Mode to) {
            if (before.version != out.before.version)
                throw Error(Code::server,
                            fmt::format("the mode changed ({} -> {}) while this switch was being "
                                        "prepared; run it again",
                                        mode_name(out.before.mode), mode_name(before.mode)),
                            Temporary::yes);
            GateInput in = evidence(home, before, to);
            out.verdict = check_gate(in);
            if (!out.verdict.ready()) {
                if (!req.force_reason) throw Error(Code::usage, refusal(before.mode, to, out.verdict));
                out.forced = true;
                // In the switch's transaction while the row is in the source; on its
                // own, just before the switch, once it is in the target.
                record_forced(rows.records(), before, to, req, out.verdict, in.now_us);
            }
            // Forward only, and never undone: a switch that fails after this
            // leaves sequences ahead of the rows, which costs nothing.
            for (const SidePlan& side : identities) {
                try {
                    if (auto at = move_identity_past_rows(*new_base, side))
                        out.identities_moved.emplace_back(side.table, *at);
                } catch (const Error& e) {
                    throw Error(e.code(),
                                fmt::format("could not move {}'s id sequence on the {} past its rows ({}); the mode "
                                            "was not changed",
                                            side.table, side_word(base_side_of(to)), e.what()),
                                e.is_temporary() ? Temporary::yes : Temporary::no);
                }
            }
        });
    for (const auto& [table, at] : out.identities_moved)
        log::get("mode")->info("{}: the {}'s id sequence moved past its rows, to {}", table,
                               side_word(base_side_of(req.to)), at);
    out.before = r.before;
    out.after = r.after;
    out.changed = r.changed;
    out.moved = r.moved;
    out.confirmed = r.confirmed;
    out.waited_seconds = r.waited_seconds;
    if (out.forced) {
        std::string list;
        for (const auto& u : out.verdict.unmet) list += (list.empty() ? "" : "; ") + u;
        log::get("mode")->warn("switched {} -> {} past its gate, forced by {} ('{}'): {}", mode_name(r.before.mode),
                               mode_name(r.after.mode), req.who, *req.force_reason, list);
    }
    return out;
}

SwitchOutcome switch_mode(Connection& control, Connection* source, Connection* target, const SwitchRequest& req) {
    ControlRows rows = ControlRows::borrowed(control);
    return switch_mode(rows, source, target, req);
}

}  // namespace webook
