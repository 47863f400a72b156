// A model that checks the migration protocol exhaustively (issue 9 part 4):
// a breadth-first search over every interleaving of a small system -- two
// writers double-writing one table, a fixer, a validator whose pass is not
// atomic, the mode switcher and an operator's mistaken `migrate copy
// --truncate` -- in the spirit of ghostferry's TLA+ model. Every decision the
// library makes is taken by the library's own functions (Rules below:
// fix_base, check_gate, transition_allowed, copy_refusal, base_side_of), so a
// change to the code's rules changes what the model can reach.
//
// The system (Bounds below):
//   * one table with `keys` rows (1 or 2), a version per row on each side
//     (0 = absent); both sides start equal (copied; the copy checkpoint done);
//   * two writers, `writes_per_writer` writes each (a writer may also stop
//     early), each write giving its key a new, higher version. A write: take
//     the fence (a shared hold on the mode: no switch while a writer holds
//     it) and read the mode | write the first side: the key's row lock
//     taken, the new version what the first side will hold | in a
//     double-write mode, write the second side -- or fail it, at most
//     `failures` times in the whole run -- and commit (the code commits the
//     second side first, so the first side's row lock holds until both have
//     committed; an unlocked reader in between sees the sides differ either
//     way): the row lock released | count the failure (its
//     time: the clock) and release the fence, in one step, as
//     migrate/double_write.cpp does (the count runs on the fence's own
//     transaction and commits with the release). Anything may interleave
//     between those steps;
//     (The fence is one shared hold here, wherever the mode row is: how
//     writers find the row as it moves to the authoritative side, and why
//     that keeps this hold, is fence_move_model_test.cpp's model.)
//   * a fixer with pending events {key, base}: a stale one from before any
//     switch (k1, base src) and every event the validator sends. A fix is
//     atomic under the fence, taken when no writer holds the key's row lock:
//     base = fix_base(mode, event.base), then the base's row is copied over
//     the other side's. An event may be fixed again later (duplicates and
//     replays) or consumed;
//   * a validator, any number of passes: start (time t0, base =
//     base_side_of(mode); with `validator_any_base` also the other base, as
//     `validate --base` does) | one step per key: a difference is counted and
//     sent to the fixer | end (time t1): the PassRecord {incremental, all,
//     base, t0, t1, found, continued} replaces the last one, unless the base
//     changed under a pass without --base: then it is discarded
//     (validate/pass.cpp run_pass);
//   * the switcher, any number of switches, to any other mode (forward or
//     back; transition_allowed() refuses what is not one step), atomically
//     when no writer holds the fence, when the gate is ready on the evidence
//     gather_gate_input() would read: the finished copy checkpoint
//     (CopyProgress::finished), the last PassRecord, the last counted failure and
//     the clock;
//   * `copies` operator copies (`migrate copy --truncate`: every source row
//     over the target), atomic under the fence with no row lock held, when
//     copy_refusal(mode) is "".
//
// Finite by abstraction, not by bounding passes or switches: only the order
// of things matters to every rule, so after each step
//   * the recorded times (last failure, the pass's start, the record's start
//     and end) are renumbered 1..n keeping their order, and the clock becomes
//     n+1 (one logical clock that ticks at every step: the same future);
//   * each key's versions (both sides, the acknowledged one, a write in
//     flight) are renumbered 0..n keeping their order;
//   * a mode version is "the current phase's" (1) or "an earlier one" (0);
//   * a pending event is "pending" or not (any number of duplicates).
// One tick is one second; GateInput.max_age is the default 600 s, which no
// pass in the model reaches: staleness is about real time, which the model
// does not have. Traces are replayed without the abstraction, so they show
// real versions and times.
//
// Invariants, in every reachable state:
//   1. the authoritative side (README.md's table, written here as the oracle)
//      holds, for every key, at least the highest acknowledged version;
//   2. a switch that changes the authoritative side finds the new base
//      already holding every key's highest acknowledged version (checked on
//      the switch step itself);
//   3. once both writers are done (nothing in flight), validating and fixing
//      to a fixpoint -- the pending events first, then passes and fixes until
//      a clean pass, deterministically, with the same rules -- leaves both
//      sides equal and holding every acknowledged version. (The reachable
//      steps go on from there too; this is the convergence check.)
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "core/migration/checkpoint.h"
#include "core/migration/checkpoint_records.h"
#include "core/migration/migration_mode.h"
#include "migrate/gates.h"
#include "migrate/mode_control.h"

namespace webook {
namespace protocol_model {  // its own, so that no name of webook's clashes with the model's
namespace {

// -- The rules the actors follow: the library's, unless a test injects a broken one.

struct Rules {
    std::function<BaseSide(Mode, BaseSide)> fix_base = [](Mode m, BaseSide b) { return webook::fix_base(m, b); };
    // The switch's gate, with the mode as the switch read it under its lock
    // (what set_mode()'s UnderSwitchLock gets); the library's ignores it.
    std::function<GateVerdict(const GateInput&, const ModeState&)> gate = [](const GateInput& in, const ModeState&) {
        return check_gate(in);
    };
    std::function<bool(Mode, Mode)> transition_allowed = [](Mode a, Mode b) {
        return webook::transition_allowed(a, b, nullptr);
    };
    std::function<std::string(Mode)> copy_refusal = [](Mode m) { return webook::copy_refusal(m); };
    std::function<BaseSide(Mode)> validation_base = [](Mode m) { return webook::base_side_of(m); };
};

struct Bounds {
    int keys = 2;
    int writes_per_writer = 2;       // -1: any number
    int failures = 1;                // second-side failures in the whole run; -1: any number
    int copies = 1;                  // -1: any number
    bool validator_any_base = true;  // the operator's `validate --base` too
    // The order docs/writer-protocol.md had before it was fixed: count the
    // failure after releasing the fence, in a step of its own, instead of
    // before (double_write.cpp and the protocol now).
    bool count_after_release = false;
    // `mode set --group`: the gate also sees the fixers' backlog (the pending events).
    bool gate_sees_fixer_lag = false;
    // validate/pass.cpp: a pass during which the base changed is not recorded.
    bool discard_passes_whose_base_changed = true;
    // The invariants checked: bit 0 for invariant 1, bit 1 for 2, bit 2 for 3.
    unsigned invariants = 0b111;
};

// -- The oracle: README.md "The four migration phases", written here and not
// taken from the code, so that the invariants do not move with it.

BaseSide spec_base(Mode m) {
    return m == Mode::src_only || m == Mode::src_first ? BaseSide::src : BaseSide::dst;
}
// The writer protocol's sides (docs/writer-protocol.md section 2; the
// library keeps its own private to migrate/double_write.cpp).
BaseSide first_side(Mode m) {
    return spec_base(m);
}
bool double_writes(Mode m) {
    return m == Mode::src_first || m == Mode::dst_first;
}
BaseSide other(BaseSide b) {
    return b == BaseSide::src ? BaseSide::dst : BaseSide::src;
}

// -- The state.

enum Phase : std::uint8_t {
    idle,       // no transaction
    fenced,     // holds the fence, has read `mode`
    written,    // first side written and acknowledged; holds the key's row lock
    committed,  // second side done (or failed); row lock released, fence held
    uncounted,  // count_after_release: fence released, the failure not counted yet
};

struct Writer {
    std::uint8_t phase = idle, mode = 0, key = 0, version = 0, failed = 0, done = 0;
    bool holds_fence() const { return phase == fenced || phase == written || phase == committed; }
};

struct Pass {
    std::uint8_t base = 0, by_option = 0, t0 = 0, mode = 0, version = 0, next = 0, found = 0;
};
struct Record {
    std::uint8_t base = 0, mode = 0, version = 0, t0 = 0, t1 = 0, found = 0;
};

constexpr int k_max_keys = 2;
constexpr int k_writers = 2;

struct State {
    std::uint8_t mode = 0, version = 0;
    std::array<std::uint8_t, k_max_keys> src{}, dst{}, acked{};
    std::array<Writer, k_writers> w{};
    std::uint8_t failures = 0, last_failure = 0;                   // last_failure 0: none counted
    std::array<std::array<std::uint8_t, 2>, k_max_keys> events{};  // [key][base]: pending
    std::optional<Pass> pass;
    std::optional<Record> record;
    std::uint8_t copies = 0;
    std::uint8_t now = 1;

    Mode m() const { return static_cast<Mode>(mode); }
    std::uint8_t& side(BaseSide b, int k) { return b == BaseSide::src ? src[k] : dst[k]; }
    std::uint8_t side(BaseSide b, int k) const { return b == BaseSide::src ? src[k] : dst[k]; }
    bool fence_held() const {
        return std::any_of(w.begin(), w.end(), [](const Writer& x) { return x.holds_fence(); });
    }
    bool row_locked(int k) const {
        return std::any_of(w.begin(), w.end(), [k](const Writer& x) { return x.phase == written && x.key == k; });
    }
    bool any_row_locked() const {
        return std::any_of(w.begin(), w.end(), [](const Writer& x) { return x.phase == written; });
    }
};

// Renumbers the values `refs` point to from `first` on, keeping their order and equalities; returns
// how many distinct values there were.
template <std::size_t N>
int renumber(std::array<std::uint8_t*, N>& refs, int n, int first) {
    std::uint64_t present = 0;
    bool small = true;
    for (int i = 0; i < n; ++i) {
        if (*refs[i] >= 64)
            small = false;
        else
            present |= std::uint64_t{1} << *refs[i];
    }
    if (small) {  // the search's case: a value's rank is how many smaller values there are
        std::array<std::uint8_t, 64> rank{};
        int r = 0;
        for (int v = 0; present >> v; ++v) {
            rank[v] = static_cast<std::uint8_t>(r + first);
            r += static_cast<int>(present >> v & 1);
        }
        for (int i = 0; i < n; ++i) *refs[i] = rank[*refs[i]];
        return r;
    }
    std::array<std::uint8_t, N> v{};
    for (int i = 0; i < n; ++i) v[i] = *refs[i];
    std::sort(v.begin(), v.begin() + n);
    const int distinct = static_cast<int>(std::unique(v.begin(), v.begin() + n) - v.begin());
    for (int i = 0; i < n; ++i)
        *refs[i] =
            static_cast<std::uint8_t>(std::lower_bound(v.begin(), v.begin() + distinct, *refs[i]) - v.begin() + first);
    return distinct;
}

// The abstraction (see the top of the file).
void canonicalize(State& s) {
    std::array<std::uint8_t*, 4> times{};
    int n = 0;
    if (s.last_failure) times[n++] = &s.last_failure;
    if (s.pass) times[n++] = &s.pass->t0;
    if (s.record) {
        times[n++] = &s.record->t0;
        times[n++] = &s.record->t1;
    }
    s.now = static_cast<std::uint8_t>(renumber(times, n, 1) + 1);
    for (int k = 0; k < k_max_keys; ++k) {
        std::array<std::uint8_t*, 3 + k_writers> versions{&s.src[k], &s.dst[k], &s.acked[k]};
        int m = 3;
        for (Writer& x : s.w)
            if (x.phase == written && x.key == k) versions[m++] = &x.version;
        renumber(versions, m, 0);
    }
    if (s.pass) s.pass->version = s.pass->version == s.version;
    if (s.record) s.record->version = s.record->version == s.version;
    s.version = 1;
    // The writers are alike: which is which does not matter.
    auto tuple = [](const Writer& x) { return std::tuple(x.phase, x.mode, x.key, x.version, x.failed, x.done); };
    if (tuple(s.w[1]) < tuple(s.w[0])) std::swap(s.w[0], s.w[1]);
}

struct Key {
    std::uint64_t a = 0, b = 0;
    bool operator==(const Key& o) const { return a == o.a && b == o.b; }
};
struct KeyHash {
    std::size_t operator()(const Key& k) const {
        std::uint64_t h = (k.a ^ (k.b * 0x632BE59BD9B4E019ull)) * 0x9E3779B97F4A7C15ull;
        return static_cast<std::size_t>(h ^ (h >> 31));
    }
};

// The visited set: canonical state -> its index, open addressing.
class Visited {
public:
    Visited() : m_slots(1 << 16) {}
    // {index, true} when `key` is new (and now has `index`), else {its index, false}.
    std::pair<std::uint32_t, bool> insert(const Key& key, std::uint32_t index) {
        if (2 * (m_size + 1) > m_slots.size()) grow();
        const std::size_t mask = m_slots.size() - 1;
        std::size_t i = KeyHash()(key) & mask;
        for (; m_slots[i].used; i = (i + 1) & mask)
            if (m_slots[i].key == key) return {m_slots[i].value, false};
        m_slots[i] = Slot{key, index, true};
        ++m_size;
        return {index, true};
    }

private:
    struct Slot {
        Key key;
        std::uint32_t value = 0;
        bool used = false;
    };
    void grow() {
        std::vector<Slot> slots(m_slots.size() * 2);
        const std::size_t mask = slots.size() - 1;
        for (const Slot& s : m_slots) {
            if (!s.used) continue;
            std::size_t i = KeyHash()(s.key) & mask;
            while (slots[i].used) i = (i + 1) & mask;
            slots[i] = s;
        }
        m_slots.swap(slots);
    }
    std::vector<Slot> m_slots;
    std::size_t m_size = 0;
};

class Packer {
public:
    void put(unsigned value, int bits) {
        if (value >> bits) throw std::logic_error("the model's state outgrew its encoding");
        m_bits |= static_cast<unsigned __int128>(value & ((1u << bits) - 1)) << m_bit;
        m_bit += bits;
    }
    Key key() const { return Key{static_cast<std::uint64_t>(m_bits), static_cast<std::uint64_t>(m_bits >> 64)}; }

private:
    unsigned __int128 m_bits = 0;
    int m_bit = 0;
};

// A canonical state in at most 128 bits (`now` and `version` follow from the rest).
Key pack(const State& s) {
    Packer p;
    p.put(s.mode, 2);
    for (int k = 0; k < k_max_keys; ++k) {
        p.put(s.src[k], 2);
        p.put(s.dst[k], 2);
        p.put(s.acked[k], 2);
        p.put(s.events[k][0], 1);
        p.put(s.events[k][1], 1);
    }
    for (const Writer& x : s.w) {
        p.put(x.phase, 3);
        p.put(x.mode, 2);
        p.put(x.key, 1);
        p.put(x.version, 2);
        p.put(x.failed, 1);
        p.put(x.done, 3);
    }
    p.put(s.failures, 2);
    p.put(s.last_failure, 3);
    p.put(s.pass.has_value(), 1);
    if (s.pass) {
        p.put(s.pass->base, 1);
        p.put(s.pass->by_option, 1);
        p.put(s.pass->t0, 3);
        p.put(s.pass->mode, 2);
        p.put(s.pass->version, 1);
        p.put(s.pass->next, 2);
        p.put(s.pass->found, 2);
    }
    p.put(s.record.has_value(), 1);
    if (s.record) {
        p.put(s.record->base, 1);
        p.put(s.record->mode, 2);
        p.put(s.record->version, 1);
        p.put(s.record->t0, 3);
        p.put(s.record->t1, 3);
        p.put(s.record->found, 2);
    }
    p.put(s.copies, 2);
    return p.key();
}

// -- Words, for traces.

std::string side_name(BaseSide b) {
    return b == BaseSide::src ? "src" : "dst";
}
std::string side_name(std::uint8_t b) {
    return side_name(static_cast<BaseSide>(b));
}
std::string mname(std::uint8_t m) {
    return std::string(mode_name(static_cast<Mode>(m)));
}
std::string kname(int k) {
    return "k" + std::to_string(k + 1);
}
std::string rows(const State& s, int keys) {
    std::string out;
    for (int k = 0; k < keys; ++k)
        out += (k ? "; " : "") + kname(k) + " src=v" + std::to_string(s.src[k]) + " dst=v" + std::to_string(s.dst[k]) +
               " acked=v" + std::to_string(s.acked[k]);
    return out;
}

// -- The gate's evidence, as gather_gate_input() would read it.

constexpr std::int64_t k_tick_us = 1'000'000;
const char* const k_table = "interactives";

int pending_events(const State& s) {
    int n = 0;
    for (const auto& k : s.events) n += k[0] + k[1];
    return n;
}

GateInput gate_input(const State& s, Mode to, const Bounds& bounds) {
    const int keys = bounds.keys;
    GateInput in;
    in.from = s.m();
    in.from_version = s.version;
    in.to = to;
    in.now_us = s.now * k_tick_us;
    in.max_age = std::chrono::seconds(600);
    if (s.last_failure) in.last_failure_us = s.last_failure * k_tick_us;
    TableEvidence t;
    t.table = k_table;
    CopyProgress copy;
    copy.table = k_table;
    copy.last_key = "[\"" + std::to_string(keys) + "\"]";
    copy.rows = keys;
    copy.finished = true;
    t.copies.push_back(copy);
    if (s.record) {
        PassRecord p;
        p.table = k_table;
        p.kind = PassKind::incremental;
        p.shard = "all";
        p.base = static_cast<BaseSide>(s.record->base);
        p.mode = mname(s.record->mode);
        p.mode_version = s.record->version;
        p.started_us = s.record->t0 * k_tick_us;
        p.ended_us = s.record->t1 * k_tick_us;
        p.found = s.record->found;
        p.continued = true;
        t.passes.push_back(p);
    }
    in.tables.push_back(t);
    if (bounds.gate_sees_fixer_lag) {
        in.fixer_lag = pending_events(s);
        in.fixer_group = "webook-fixers";
    }
    return in;
}

ModeState mode_state(const State& s) {
    ModeState st;
    st.mode = s.m();
    st.version = s.version;
    return st;
}

// -- The steps.

struct Step {
    std::string says;       // filled only when narrating
    std::string violation;  // invariant 2, seen on the switch step itself
};

class Model {
public:
    Model(Bounds bounds, Rules rules) : m_bounds(bounds), m_rules(std::move(rules)) {
        // The per-mode rules, asked once (they are pure).
        for (int m = 0; m < 4; ++m) {
            const Mode mode = static_cast<Mode>(m);
            m_copy_allowed[m] = m_rules.copy_refusal(mode).empty();
            m_validation_base[m] = m_rules.validation_base(mode);
            for (int b = 0; b < 2; ++b) m_fix_base[m][b] = m_rules.fix_base(mode, static_cast<BaseSide>(b));
            for (int to = 0; to < 4; ++to)
                m_step_allowed[m][to] = m_rules.transition_allowed(mode, static_cast<Mode>(to));
        }
    }

    State initial() const {
        State s;
        s.events[0][static_cast<int>(BaseSide::src)] = 1;  // stale: from before any switch
        canonicalize(s);
        return s;
    }

    // Calls emit(next, step) for every step enabled in `s`. `abstract`:
    // canonicalize the next states (the search); otherwise the clock ticks
    // and versions grow (a trace's replay, which finds its way by the
    // canonical form of each next state).
    template <typename Emit>
    void successors(const State& s, bool abstract, bool narrate, Emit&& emit) const {
        auto next = [&](State n, const auto& says, std::string violation = {}) {
            if (abstract)
                canonicalize(n);
            else
                n.now = static_cast<std::uint8_t>(s.now + 1);
            std::string text;
            if (narrate) text = says();
            emit(n, Step{std::move(text), std::move(violation)});
        };
        const std::uint8_t t = s.now;  // this step's time
        const Mode mode = s.m();
        const int keys = m_bounds.keys;
        const int writes = m_bounds.writes_per_writer < 0 ? 1 : m_bounds.writes_per_writer;

        // Writers.
        for (int i = 0; i < k_writers; ++i) {
            const Writer& x = s.w[i];
            const std::string who = "W" + std::to_string(i + 1);
            const Mode wm = static_cast<Mode>(x.mode);
            const BaseSide first = first_side(wm), second = other(first);
            // After the commit only the failure and the fence matter.
            auto commit = [&](State& n, bool failed) {
                n.w[i] = Writer{};
                n.w[i].phase = committed;
                n.w[i].failed = failed;
                n.w[i].done = x.done;
            };
            auto finish = [&](State& n) {
                n.w[i] = Writer{};
                n.w[i].done = static_cast<std::uint8_t>(m_bounds.writes_per_writer < 0 ? 0 : x.done + 1);
            };
            switch (x.phase) {
            case idle:
                if (x.done >= writes) break;
                for (int k = 0; k < keys; ++k) {
                    State n = s;
                    n.w[i].phase = fenced;
                    n.w[i].mode = s.mode;
                    n.w[i].key = static_cast<std::uint8_t>(k);
                    next(n, [&] {
                        return who + " takes the fence, reads " + mname(s.mode) + " (to write " + kname(k) + ")";
                    });
                }
                {  // or stops writing
                    State n = s;
                    n.w[i].done = static_cast<std::uint8_t>(writes);
                    next(n, [&] { return who + " stops writing"; });
                }
                break;
            case fenced: {
                if (s.row_locked(x.key)) break;
                State n = s;
                const std::uint8_t v = static_cast<std::uint8_t>(s.acked[x.key] + 1);
                n.side(first, x.key) = v;
                n.acked[x.key] = v;
                if (double_writes(wm)) {
                    n.w[i].phase = written;
                    n.w[i].version = v;
                } else {
                    commit(n, false);
                }
                next(n, [&] {
                    return who + " writes " + kname(x.key) + " v" + std::to_string(v) + " on " + side_name(first) +
                           (double_writes(wm) ? " (acknowledged)" : ", commits (acknowledged)");
                });
                break;
            }
            case written: {
                State n = s;
                n.side(second, x.key) = x.version;
                commit(n, false);
                next(n, [&] {
                    return who + " writes " + kname(x.key) + " v" + std::to_string(x.version) + " on " +
                           side_name(second) + ", commits";
                });
                if (m_bounds.failures < 0 || s.failures < m_bounds.failures) {
                    State f = s;
                    commit(f, true);
                    if (m_bounds.failures >= 0) f.failures++;
                    next(f, [&] {
                        return who + "'s write of " + kname(x.key) + " v" + std::to_string(x.version) + " on " +
                               side_name(second) + " FAILS (second side); commits the first";
                    });
                }
                break;
            }
            case committed: {
                State n = s;
                if (x.failed && m_bounds.count_after_release) {
                    n.w[i].phase = uncounted;
                } else {
                    if (x.failed) n.last_failure = t;
                    finish(n);
                }
                next(n, [&] {
                    return x.failed && !m_bounds.count_after_release
                               ? who + " counts its second-side failure (t=" + std::to_string(t) +
                                     "), releases the fence"
                               : who + " releases the fence";
                });
                break;
            }
            case uncounted: {
                State n = s;
                n.last_failure = t;
                finish(n);
                next(n, [&] { return who + " counts its second-side failure (t=" + std::to_string(t) + ")"; });
                break;
            }
            }
        }

        // Fixer: fixes an event, keeping it pending (a duplicate) or not.
        for (int k = 0; k < keys; ++k)
            for (int b = 0; b < 2; ++b) {
                if (!s.events[k][b] || s.row_locked(k)) continue;
                const BaseSide base = m_fix_base[s.mode][b];
                for (int keep = 0; keep < 2; ++keep) {
                    State n = s;
                    n.events[k][b] = static_cast<std::uint8_t>(keep);
                    n.side(other(base), k) = s.side(base, k);
                    next(n, [&] {
                        return "fixer: event {" + kname(k) + ", base " + side_name(static_cast<std::uint8_t>(b)) +
                               "} in " + mname(s.mode) + ": copies " + side_name(base) + " -> " +
                               side_name(other(base)) + (keep ? " (a duplicate stays pending)" : "");
                    });
                }
            }

        // Validator.
        if (!s.pass) {
            const BaseSide own = m_validation_base[static_cast<int>(mode)];
            for (int opt = 0; opt < (m_bounds.validator_any_base ? 2 : 1); ++opt) {
                State n = s;
                Pass p;
                p.base = static_cast<std::uint8_t>(opt ? other(own) : own);
                p.by_option = static_cast<std::uint8_t>(opt);
                p.t0 = t;
                p.mode = s.mode;
                p.version = s.version;
                n.pass = p;
                next(n, [&] {
                    return "validator: pass starts (t=" + std::to_string(t) + ", base " + side_name(p.base) +
                           (opt ? " by --base" : "") + ")";
                });
            }
        } else if (s.pass->next < keys) {
            State n = s;
            const int k = s.pass->next;
            n.pass->next++;
            const bool differs = s.src[k] != s.dst[k];
            if (differs) {
                n.pass->found++;
                n.events[k][s.pass->base] = 1;
            }
            next(n, [&] {
                return "validator: compares " + kname(k) +
                       (differs ? ": differs, sends {" + kname(k) + ", base " + side_name(s.pass->base) + "}"
                                : ": equal");
            });
        } else {
            State n = s;
            n.pass.reset();
            const Pass& p = *s.pass;
            const bool discarded = m_bounds.discard_passes_whose_base_changed && !p.by_option &&
                                   m_validation_base[static_cast<int>(mode)] != static_cast<BaseSide>(p.base);
            if (!discarded) n.record = Record{p.base, p.mode, p.version, p.t0, t, p.found};
            next(n, [&] {
                return discarded ? std::string("validator: pass ends, discarded (the base changed)")
                                 : "validator: pass ends (t=" + std::to_string(t) + "), recorded: base " +
                                       side_name(p.base) + ", found " + std::to_string(p.found) +
                                       ", started t=" + std::to_string(p.t0) + " in " + mname(p.mode);
            });
        }

        // Switcher.
        if (!s.fence_held()) {
            for (int to_i = 0; to_i < 4; ++to_i) {
                const Mode to = static_cast<Mode>(to_i);
                if (to == mode || !m_step_allowed[s.mode][to_i]) continue;
                if (!gate_ready(s, to, abstract)) continue;
                std::string violation;
                if ((m_bounds.invariants & 2) && spec_base(to) != spec_base(mode))
                    for (int k = 0; k < keys && violation.empty(); ++k)
                        if (s.side(spec_base(to), k) < s.acked[k])
                            violation = "invariant 2: the switch " + mname(s.mode) + " -> " + mname(to_i) + " makes " +
                                        side_name(spec_base(to)) + " authoritative while it lacks " + kname(k) +
                                        "'s acknowledged version";
                State n = s;
                n.mode = static_cast<std::uint8_t>(to_i);
                n.version++;
                next(
                    n, [&] { return "switch " + mname(s.mode) + " -> " + mname(to_i) + " (the gate is ready)"; },
                    violation);
            }
        }

        // The operator's copy.
        if ((m_bounds.copies < 0 || s.copies < m_bounds.copies) && !s.any_row_locked() && m_copy_allowed[s.mode]) {
            State n = s;
            if (m_bounds.copies >= 0) n.copies++;
            for (int k = 0; k < keys; ++k) n.dst[k] = s.src[k];
            next(n, [&] { return "operator: migrate copy --truncate in " + mname(s.mode); });
        }
    }

    // Invariants 1 and 3 in `s`; "" when they hold.
    std::string check(const State& s) const {
        const BaseSide base = spec_base(s.m());
        const int keys = m_bounds.keys;
        for (int k = 0; k < keys && (m_bounds.invariants & 1); ++k)
            if (s.side(base, k) < s.acked[k])
                return "invariant 1: in " + mname(s.mode) + " the authoritative " + side_name(base) + " lacks " +
                       kname(k) + "'s acknowledged version";
        const int writes = m_bounds.writes_per_writer < 0 ? 1 : m_bounds.writes_per_writer;
        const bool writers_done =
            std::all_of(s.w.begin(), s.w.end(), [&](const Writer& x) { return x.phase == idle && x.done >= writes; });
        if (!writers_done || !(m_bounds.invariants & 4)) return "";
        // Invariant 3: the pending events, then passes and fixes until clean.
        State c = s;
        const Mode mode = c.m();
        auto fix = [&](int k, BaseSide event_base) {
            const BaseSide b = m_fix_base[static_cast<int>(mode)][static_cast<int>(event_base)];
            c.side(other(b), k) = c.side(b, k);
        };
        for (int k = 0; k < keys; ++k)
            for (int b = 0; b < 2; ++b)
                if (c.events[k][b]) fix(k, static_cast<BaseSide>(b));
        for (int round = 0; round < 4; ++round) {
            bool clean = true;
            for (int k = 0; k < keys; ++k)
                if (c.src[k] != c.dst[k]) {
                    clean = false;
                    fix(k, m_validation_base[static_cast<int>(mode)]);
                }
            if (clean) break;
        }
        for (int k = 0; k < keys; ++k)
            if (c.src[k] != c.dst[k] || c.side(base, k) < c.acked[k])
                return "invariant 3: validating and fixing to a fixpoint in " + mname(s.mode) + " from " +
                       rows(s, keys) + " leaves " + rows(c, keys);
        return "";
    }

private:
    // The gate's answer; remembered in the search, where the times are small
    // (the gate is a pure function of its input: gates.h "no I/O").
    bool gate_ready(const State& s, Mode to, bool abstract) const {
        auto ask = [&] { return m_rules.gate(gate_input(s, to, m_bounds), mode_state(s)).ready(); };
        if (!abstract) return ask();
        Packer p;
        p.put(s.mode, 2);
        p.put(static_cast<unsigned>(to), 2);
        p.put(s.last_failure, 3);
        p.put(s.now, 3);
        p.put(static_cast<unsigned>(pending_events(s)), 3);
        p.put(s.record.has_value(), 1);
        if (s.record) {
            p.put(s.record->base, 1);
            p.put(s.record->mode, 2);
            p.put(s.record->version, 1);
            p.put(s.record->t0, 3);
            p.put(s.record->t1, 3);
            p.put(s.record->found, 2);
        }
        const std::uint64_t key = p.key().a;
        auto it = m_gate_memo.find(key);
        if (it == m_gate_memo.end()) it = m_gate_memo.emplace(key, ask()).first;
        return it->second;
    }

    Bounds m_bounds;
    Rules m_rules;
    std::array<bool, 4> m_copy_allowed{};
    std::array<BaseSide, 4> m_validation_base{};
    std::array<std::array<BaseSide, 2>, 4> m_fix_base{};
    std::array<std::array<bool, 4>, 4> m_step_allowed{};
    mutable std::unordered_map<std::uint64_t, bool> m_gate_memo;
};

// -- The search.

struct Outcome {
    std::size_t states = 0;
    std::size_t transitions = 0;
    std::array<std::array<std::size_t, 4>, 4> switches{};  // [from][to]: switch steps explored
    std::string violation;                                 // the first found; breadth first, so with a shortest trace
    std::vector<std::string> trace;
    bool ok() const { return violation.empty(); }
    std::size_t rollbacks() const {
        std::size_t n = 0;
        for (int a = 0; a < 4; ++a)
            for (int b = 0; b < a; ++b) n += switches[a][b];
        return n;
    }
};

Outcome explore(const Bounds& bounds, const Rules& rules) {
    if (bounds.keys < 1 || bounds.keys > k_max_keys || bounds.writes_per_writer > 7 || bounds.failures > 3 ||
        bounds.copies > 3)
        throw std::logic_error("bounds beyond the model's encoding");
    const Model model(bounds, rules);
    std::vector<State> states;
    std::vector<std::uint32_t> parent;
    Visited seen;
    Outcome out;

    // The steps to states[i] (then `last`, the violating step, if any),
    // replayed without the abstraction: real versions and times.
    auto trace_to = [&](std::uint32_t i, std::optional<State> last) {
        std::vector<std::uint32_t> path{i};
        while (path.back() != 0) path.push_back(parent[path.back()]);
        std::reverse(path.begin(), path.end());
        std::vector<Key> keys;
        for (std::size_t j = 1; j < path.size(); ++j) keys.push_back(pack(states[path[j]]));
        if (last) keys.push_back(pack(*last));
        std::vector<std::string> lines{"start, copied: " + rows(states[0], bounds.keys) +
                                       "; the fixer holds a stale event {k1, base src}"};
        State real = states[0];
        for (const Key& want : keys) {
            bool found = false;
            model.successors(real, false, true, [&](const State& n, const Step& st) {
                State c = n;
                canonicalize(c);
                if (found || !(pack(c) == want)) return;
                found = true;
                real = n;
                lines.push_back(st.says + "  =>  " + rows(n, bounds.keys));
            });
            if (!found) lines.push_back("(the replay lost its way here)");
        }
        return lines;
    };

    states.push_back(model.initial());
    parent.push_back(0);
    seen.insert(pack(states[0]), 0);
    if (std::string v = model.check(states[0]); !v.empty()) {
        out.violation = v;
        out.states = 1;
        return out;
    }
    for (std::uint32_t i = 0; i < states.size() && out.ok(); ++i) {
        const State s = states[i];
        model.successors(s, true, false, [&](const State& n, const Step& st) {
            if (!out.ok()) return;
            ++out.transitions;
            if (n.mode != s.mode) ++out.switches[s.mode][n.mode];
            if (!st.violation.empty()) {
                out.violation = st.violation;
                out.trace = trace_to(i, n);
                return;
            }
            const auto [index, fresh] = seen.insert(pack(n), static_cast<std::uint32_t>(states.size()));
            if (!fresh) return;
            states.push_back(n);
            parent.push_back(i);
            if (std::string v = model.check(n); !v.empty()) {
                out.violation = v;
                out.trace = trace_to(index, std::nullopt);
            }
        });
    }
    out.states = states.size();
    return out;
}

std::string describe(const Outcome& o) {
    std::string text = o.violation + "\n";
    for (std::size_t i = 0; i < o.trace.size(); ++i) text += "  " + std::to_string(i) + ". " + o.trace[i] + "\n";
    return text;
}

Outcome timed(const char* what, const Bounds& bounds, const Rules& rules) {
    const auto t0 = std::chrono::steady_clock::now();
    Outcome o = explore(bounds, rules);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("[model] %s: %zu states, %zu transitions, %zu rollback steps, %.0f ms%s\n", what, o.states,
                o.transitions, o.rollbacks(), ms, o.ok() ? "" : " (stopped at the first violation)");
    return o;
}

// The two systems every test explores (see the top of the file for the
// actors). Both let the writers write any number of times (at least the two
// writes each of the issue) and the validator, the fixer and the switcher
// act any number of times.
//   two keys: one second-side failure in the whole run; the validator uses
//     the mode's base; copies any number of times (copy_refusal allowing);
//   one key, but everything unbounded: any number of failures, and the
//     operator's `validate --base` (either base) as well.
Bounds two_keys() {
    Bounds b;
    b.keys = 2;
    b.writes_per_writer = -1;
    b.failures = 1;
    b.copies = -1;
    b.validator_any_base = false;
    return b;
}

Bounds one_key_anything_goes() {
    Bounds b;
    b.keys = 1;
    b.writes_per_writer = -1;
    b.failures = -1;
    b.copies = -1;
    b.validator_any_base = true;
    return b;
}

// What the search found in the library's gate before it had the phase rule, step by step:
//
//   1. src_only. The validator (cron, `validate --incremental`) starts a pass:
//      base src, t=2.
//   2. It compares k1: equal (v0 on both sides).
//   3. A writer in src_only writes k1 v1 on the source only -- src_only does
//      not double-write, so nothing is a "second-side failure" and nothing is
//      counted.
//   4. The pass ends clean and is recorded: incremental, base src, continued,
//      found 0, started t=2.
//   5. `mode set src_first`: its gate is the copy's, met (the copy finished).
//   6. `mode set dst_first`, within max_age of that pass: check_gate() wants
//      the last incremental pass to have base src, to be continued, clean,
//      recent and started after the last counted second-side failure (there
//      was none). All true, so the gate is ready -- and the target, now
//      authoritative, lacks the acknowledged k1 v1.
//
// The same happens without the pass straddling the write (a clean pass in
// src_only, then writes, then the two switches); after a rollback (a clean
// pass in src_first, rollback to src_only, a write there, src_first again,
// dst_first at once); and on the way back dst_only -> dst_first -> src_first,
// with a `--base src` pass begun before a write in dst_only and ended after
// the rollback to dst_first. (Each found by the search with the other paths
// taken away.) The gate's reasoning
// ("a clean pass, and no failure counted since it began, so the other side
// has every write") assumes that every write since the pass began reached
// both sides or was counted; writes in a single-write phase do neither. The
// PassRecord already said when it ran (mode, mode_version), but GateInput
// carried no mode version and check_gate() did not compare.
//
// The rule that closes it, now in check_gate(): a validation-gated step also
// needs its pass to have begun in the current phase (its mode_version equal to
// GateInput::from_version). The last test below takes the rule away again
// and must find the violation.

// Whether the search found a violation of that invariant; prints its trace
// (how the broken rule breaks it).
bool mentions(const Outcome& o, const std::string& text) {
    std::printf("%s", describe(o).c_str());
    return o.violation.find(text) != std::string::npos;
}

// Every mode reached, a rollback taken: the gates opened (a model whose
// gates never open would check nothing).
void expect_every_phase_reached(const Outcome& o) {
    EXPECT_GT(o.switches[0][1], 0u) << "src_only -> src_first";
    EXPECT_GT(o.switches[1][2], 0u) << "src_first -> dst_first";
    EXPECT_GT(o.switches[2][3], 0u) << "dst_first -> dst_only";
    EXPECT_GT(o.rollbacks(), 0u);
}

}  // namespace

TEST(ProtocolModel, TheModelsOracleIsTheLibrarysBaseSide) {
    for (Mode m : {Mode::src_only, Mode::src_first, Mode::dst_first, Mode::dst_only})
        EXPECT_EQ(spec_base(m), base_side_of(m)) << mode_name(m);
}

TEST(ProtocolModel, NoInterleavingLosesAnAcknowledgedWriteOrLetsAGateThroughEarly) {
    const Outcome two = timed("the library's rules, two keys", two_keys(), Rules{});
    EXPECT_TRUE(two.ok()) << describe(two);
    const Outcome one = timed("the library's rules, one key, anything goes", one_key_anything_goes(), Rules{});
    EXPECT_TRUE(one.ok()) << describe(one);
    if (two.ok()) {
        EXPECT_GT(two.states, 200'000u);
        expect_every_phase_reached(two);
    }
    if (one.ok()) {
        EXPECT_GT(one.states, 50'000u);
        expect_every_phase_reached(one);
    }
}

TEST(ProtocolModel, RollbacksAreGatedTooAndTheFixersLagInTheGateBreaksNothing) {
    const Outcome one = timed("one key, anything goes (rollbacks)", one_key_anything_goes(), Rules{});
    EXPECT_TRUE(one.ok()) << describe(one);
    EXPECT_GT(one.switches[2][1], 0u) << "dst_first -> src_first (needs a --base src pass)";
    EXPECT_GT(one.switches[3][2], 0u) << "dst_only -> dst_first";

    // `mode set --group`: the gate also waits for the fixers' backlog.
    Bounds lag = one_key_anything_goes();
    lag.gate_sees_fixer_lag = true;
    const Outcome with_lag = timed("the fixers' lag, one key", lag, Rules{});
    EXPECT_TRUE(with_lag.ok()) << describe(with_lag);
    expect_every_phase_reached(with_lag);
}

// -- Teeth: the same model with one rule broken finds a violation.

TEST(ProtocolModel, AFixerThatTrustsTheEventsBaseOverwritesAnAcknowledgedWrite) {
    Rules r = Rules{};
    r.fix_base = [](Mode, BaseSide event_base) { return event_base; };
    // An event from a pass with `--base dst` in src_only: "repairs" the
    // source from the stale target.
    const Outcome one = timed("fixer trusts the event, one key", one_key_anything_goes(), r);
    EXPECT_TRUE(mentions(one, "invariant 1")) << describe(one);
    // Without --base: an event a pass begun in src_first sends after the
    // switch to dst_first (or the stale seeded one) names src, where a
    // second-side failure left the row behind. Even when the gate waits for
    // the fixers' backlog, since the pass sends it after the switch.
    const Outcome two = timed("fixer trusts the event, two keys", two_keys(), r);
    EXPECT_TRUE(mentions(two, "invariant 1")) << describe(two);
    Bounds lag = two_keys();
    lag.gate_sees_fixer_lag = true;
    const Outcome with_lag = timed("fixer trusts the event, two keys, the gate sees the lag", lag, r);
    EXPECT_TRUE(mentions(with_lag, "invariant 1")) << describe(with_lag);
}

TEST(ProtocolModel, AGateThatIgnoresTheLastSecondSideFailureSwitchesOverAMissingWrite) {
    Rules r = Rules{};
    r.gate = [](GateInput in, const ModeState&) {
        in.last_failure_us.reset();
        return check_gate(in);
    };
    const Outcome o = timed("gate ignores the last failure", two_keys(), r);
    EXPECT_TRUE(mentions(o, "invariant 2")) << describe(o);
}

TEST(ProtocolModel, ACopyThatIgnoresCopyRefusalOverwritesTheAuthoritativeTarget) {
    Rules r = Rules{};
    r.copy_refusal = [](Mode) { return std::string(); };
    const Outcome o = timed("copy in any mode", two_keys(), r);
    EXPECT_TRUE(mentions(o, "invariant 1")) << describe(o);
}

TEST(ProtocolModel, CountingASecondSideFailureAfterReleasingTheFenceLetsASwitchMissIt) {
    Bounds b = two_keys();
    b.count_after_release = true;
    const Outcome o = timed("failure counted after the release", b, Rules{});
    EXPECT_TRUE(mentions(o, "invariant 2")) << describe(o);
}

TEST(ProtocolModel, AGateThatIgnoresTheDifferencesThePassFoundSwitchesOverThem) {
    Rules r = Rules{};
    r.gate = [](GateInput in, const ModeState&) {
        for (auto& t : in.tables)
            for (auto& p : t.passes) p.found = 0;
        return check_gate(in);
    };
    const Outcome o = timed("gate ignores what the pass found", two_keys(), r);
    EXPECT_TRUE(mentions(o, "invariant 2")) << describe(o);
}

// check_gate() calls a step transition_allowed() refuses "no gate (ready)":
// it is the caller's transition_allowed() that stops src_only -> dst_first.
TEST(ProtocolModel, AllowingAStepOfMoreThanOnePhaseSkipsEveryGate) {
    Rules r = Rules{};
    r.transition_allowed = [](Mode, Mode) { return true; };
    const Outcome o = timed("any step allowed", two_keys(), r);
    EXPECT_TRUE(mentions(o, "invariant 2")) << describe(o);
}

// Each invariant bites on its own: with only the convergence check, the
// fixer that trusts the event's base is caught by invariant 3.
TEST(ProtocolModel, ConvergenceAloneCatchesAFixerThatTrustsTheEventsBase) {
    Bounds b = one_key_anything_goes();
    b.invariants = 0b100;
    Rules r = Rules{};
    r.fix_base = [](Mode, BaseSide event_base) { return event_base; };
    const Outcome o = timed("fixer trusts the event, invariant 3 only", b, r);
    EXPECT_TRUE(mentions(o, "invariant 3")) << describe(o);
}

// The phase rule taken away (every pass counted as begun in the current
// phase): a clean pass from src_only lets the switch to dst_first through
// while the target lacks a write made in src_only after the pass compared it.
TEST(ProtocolModel, AGateThatAcceptsAPassFromAnEarlierPhaseSwitchesOverAWriteOfASingleWritePhase) {
    Rules r;
    r.gate = [](GateInput in, const ModeState&) {
        for (auto& t : in.tables)
            for (auto& p : t.passes) p.mode_version = in.from_version;
        return check_gate(in);
    };
    const Outcome two = timed("passes of earlier phases accepted, two keys", two_keys(), r);
    EXPECT_TRUE(mentions(two, "invariant 2")) << describe(two);
}

}  // namespace protocol_model
}  // namespace webook
