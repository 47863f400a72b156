// A model of the moving mode row (core/migration/migration_mode.h, "The row
// moves to the authoritative side"; docs/writer-protocol.md section 4),
// checked by a breadth-first search over every interleaving of:
//   * two writers taking the fence, one hop per step, each hop decided by the
//     library's next_home_step(); a writer starts where its last fence found
//     the home, falls back to the target's row when the source does not answer
//     (find_home()'s rule), holds the row it applies FOR SHARE until it
//     releases it, and takes fences for ever;
//   * the switcher running set_mode()'s steps: find the home (unlocked), lock
//     it exclusively when no writer holds it, confirm a pending home first,
//     then one step to any neighbouring mode, its row writes from the
//     library's switch_writes() -- pending in the new place, the pointer over
//     the old home (the moment the switch happens), the confirmation -- each
//     write waiting for the writers holding that row; it may crash (or give
//     up: a lock wait, an unreachable side) after any step, at most twice;
//   * either database going away and coming back at any moment (one at a
//     time).
// Bounded by the number of switches (6: every move both ways) and crashes.
//
// Invariants, in every reachable state:
//   1. a writer holding the fence applies the current mode -- the one the
//      last switch to commit its decisive write set -- at its version: "once
//      `mode set` returns, no writer applies the old mode", and no writer
//      applies one that has not happened;
//   2. no fence or unlocked read finds the rows disagreeing
//      (next_home_step() throws) or hops more than the library allows;
//   3. with the switcher idle and the home confirmed in one database, a
//      writer that cannot reach the other takes the fence, wherever it
//      starts: from dst_first on no user write needs the source (and after a
//      rollback none needs the target's control table);
//   4. at most one row holds a bare mode (the home's claim).
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/base/error.h"
#include "core/migration/migration_mode.h"
#include "migrate/mode_control.h"

namespace webook {
namespace fence_move_model {
namespace {

constexpr int k_max_hops = 6;  // find_home()'s

struct Rules {
    std::function<HomeStep(ControlPlace, const std::optional<ModeRow>&, std::optional<std::int64_t>, bool)> step =
        [](ControlPlace at, const std::optional<ModeRow>& row, std::optional<std::int64_t> pointer, bool fell_back) {
            return next_home_step(at, row, pointer, fell_back);
        };
    std::function<std::vector<RowWrite>(const ModeState&, Mode)> writes = [](const ModeState& before, Mode to) {
        return switch_writes(before, to, true);
    };
    bool fall_back = true;  // find_home(): the target's row when the source does not answer
};

struct Bounds {
    int switches = 6;
    int crashes = 2;
};

int idx(ControlPlace p) {
    return p == ControlPlace::target ? 1 : 0;
}

struct Writer {
    enum Phase : std::uint8_t { idle, hopping, holding } phase = idle;
    ControlPlace cache = ControlPlace::source;
    ControlPlace at = ControlPlace::source;
    std::int8_t pointer = -1;  // none
    bool fell_back = false;
    std::uint8_t hops = 0;
    Mode mode = Mode::src_only;  // held
    std::int8_t version = 0;
};

struct Switcher {
    enum Phase : std::uint8_t { idle, locked, pending_written, pointer_written } phase = idle;
    ControlPlace home = ControlPlace::source;
    ModeState before;
    Mode to = Mode::src_only;
};

struct State {
    std::array<std::optional<ModeRow>, 2> rows;  // source's, target's
    std::array<bool, 2> up{true, true};          // the source, the target
    std::array<Writer, 2> writers;
    Switcher sw;
    Mode current = Mode::src_only;  // the ghost: what the last decisive write said
    std::int8_t current_version = 0;
    std::int8_t switches = 0, crashes = 0;

    std::string key() const {
        std::string k;
        for (const auto& r : rows) {
            k += r ? static_cast<char>('a' + static_cast<int>(r->kind)) : '-';
            if (r) {
                k += static_cast<char>(static_cast<int>(r->mode));
                k += static_cast<char>(idx(r->moved_to));
                k += static_cast<char>(r->version);
            }
        }
        k += static_cast<char>(up[0] + 2 * up[1]);
        for (const auto& w : writers) {
            k += static_cast<char>(w.phase);
            k += static_cast<char>(idx(w.cache));
            k += static_cast<char>(idx(w.at));
            k += static_cast<char>(w.pointer);
            k += static_cast<char>(w.fell_back);
            k += static_cast<char>(w.hops);
            k += static_cast<char>(static_cast<int>(w.mode));
            k += static_cast<char>(w.version);
        }
        k += static_cast<char>(sw.phase);
        k += static_cast<char>(idx(sw.home));
        k += static_cast<char>(static_cast<int>(sw.before.mode));
        k += static_cast<char>(sw.before.version);
        k += static_cast<char>(sw.before.confirmed);
        k += static_cast<char>(static_cast<int>(sw.to));
        k += static_cast<char>(static_cast<int>(current));
        k += static_cast<char>(current_version);
        k += static_cast<char>(switches);
        k += static_cast<char>(crashes);
        return k;
    }
};

bool reachable(const State& s, ControlPlace p) {
    return s.up[idx(p)];
}

// The switcher holds this row exclusively (from its lock to its decisive write).
bool exclusively_locked(const State& s, ControlPlace p) {
    return (s.sw.phase == Switcher::locked || s.sw.phase == Switcher::pending_written) && s.sw.home == p;
}

bool shared_by_a_writer(const State& s, ControlPlace p) {
    for (const auto& w : s.writers)
        if (w.phase == Writer::holding && w.at == p) return true;
    return false;
}

struct Search {
    explicit Search(const Rules& r, Bounds b = {}) : rules(r), bounds(b) {}

    const Rules& rules;
    Bounds bounds;
    bool ignore_bare_rows = false;  // invariant 4 off
    std::vector<std::string> violations;
    bool reached_move_forward = false, reached_move_back = false, reached_fallback_apply = false,
         reached_unconfirmed = false, reached_dst_only = false;

    void violation(const std::string& what) {
        if (violations.size() < 5) violations.push_back(what);
    }

    // One hop's decision, the library's, or a violation when it throws.
    std::optional<HomeStep> decide(ControlPlace at, const std::optional<ModeRow>& row, std::int8_t pointer,
                                   bool fell_back, const char* who) {
        try {
            return rules.step(at, row, pointer < 0 ? std::nullopt : std::optional<std::int64_t>(pointer), fell_back);
        } catch (const Error& e) {
            violation(std::string(who) + ": " + e.what());
            return std::nullopt;
        }
    }

    // A fence or read from `start` run to its end with nothing else moving.
    // With `lock`, a row the switcher holds blocks it (nullopt: blocked).
    // Returns the place applied, or nullopt (failed, blocked or no migration).
    std::optional<ControlPlace> resolve(const State& s, ControlPlace start, bool lock, const char* who) {
        ControlPlace at = start;
        std::int8_t pointer = -1;
        bool fell_back = false;
        for (int hop = 0; hop < k_max_hops; ++hop) {
            if (!reachable(s, at)) {
                if (rules.fall_back && !fell_back && pointer < 0) {
                    fell_back = true;
                    at = other_place(at);
                    continue;
                }
                return std::nullopt;
            }
            if (lock && exclusively_locked(s, at)) return std::nullopt;
            auto step = decide(at, s.rows[idx(at)], pointer, fell_back, who);
            if (!step) return std::nullopt;
            switch (step->what) {
            case HomeStep::What::apply: return at;
            case HomeStep::What::unreachable:
            case HomeStep::What::no_migration: return std::nullopt;
            case HomeStep::What::go:
                at = step->next;
                pointer = step->pointer ? static_cast<std::int8_t>(*step->pointer) : -1;
                break;
            }
        }
        violation(std::string(who) + ": more than " + std::to_string(k_max_hops) + " hops");
        return std::nullopt;
    }

    void check(const State& s) {
        for (const auto& w : s.writers)
            if (w.phase == Writer::holding && (w.mode != s.current || w.version != s.current_version))
                violation("a writer holds " + std::string(mode_name(w.mode)) + " v" + std::to_string(w.version) +
                          " in the " + std::string(place_name(w.at)) + " while the mode is " +
                          std::string(mode_name(s.current)) + " v" + std::to_string(s.current_version));
        for (ControlPlace start : {ControlPlace::source, ControlPlace::target}) resolve(s, start, false, "a read");
        int bare = 0;
        for (ControlPlace home : {ControlPlace::source, ControlPlace::target}) {
            const auto& r = s.rows[idx(home)];
            if (!r || r->kind != ModeRow::Kind::mode) continue;
            ++bare;
            if (s.sw.phase != Switcher::idle) continue;
            State gone = s;
            gone.up = {true, true};
            gone.up[idx(other_place(home))] = false;
            for (ControlPlace start : {ControlPlace::source, ControlPlace::target})
                if (!resolve(gone, start, true, "a fence without the other side"))
                    violation("with the home confirmed in the " + std::string(place_name(home)) + " (" +
                              std::string(mode_name(r->mode)) + "), a writer starting at the " +
                              std::string(place_name(start)) + " cannot take the fence without the " +
                              std::string(place_name(other_place(home))));
        }
        if (bare > 1 && !ignore_bare_rows) violation("both rows hold a bare mode");
        const auto& t = s.rows[1];
        if (t && t->kind == ModeRow::Kind::pending && s.sw.phase == Switcher::idle && s.rows[0] &&
            s.rows[0]->kind == ModeRow::Kind::moved)
            reached_unconfirmed = true;
        if (s.current == Mode::dst_only) reached_dst_only = true;
    }

    void writer_steps(const State& s, int i, std::vector<State>& out) {
        const Writer& w = s.writers[i];
        State n = s;
        Writer& nw = n.writers[i];
        switch (w.phase) {
        case Writer::idle:
            nw.phase = Writer::hopping;
            nw.at = w.cache;
            nw.pointer = -1;
            nw.fell_back = false;
            nw.hops = 0;
            out.push_back(n);
            return;
        case Writer::holding:
            nw.phase = Writer::idle;
            nw.mode = Mode::src_only;
            nw.version = 0;
            out.push_back(n);
            return;
        case Writer::hopping: break;
        }
        if (!reachable(s, w.at)) {
            if (rules.fall_back && !w.fell_back && w.pointer < 0) {  // find_home(): the other row may be the home
                nw.fell_back = true;
                nw.at = other_place(w.at);
            } else {
                nw.phase = Writer::idle;  // the user's write fails: the source was needed
            }
            out.push_back(n);
            return;
        }
        if (exclusively_locked(s, w.at)) return;  // waits for the switch
        auto step = decide(w.at, s.rows[idx(w.at)], w.pointer, w.fell_back, "a fence");
        if (!step) return;
        switch (step->what) {
        case HomeStep::What::apply:
            nw.phase = Writer::holding;
            nw.cache = w.at;
            nw.mode = s.rows[idx(w.at)]->mode;
            nw.version = static_cast<std::int8_t>(s.rows[idx(w.at)]->version);
            if (w.fell_back) reached_fallback_apply = true;
            break;
        case HomeStep::What::unreachable: nw.phase = Writer::idle; break;
        case HomeStep::What::no_migration: violation("a fence found no mode row"); return;
        case HomeStep::What::go:
            if (++nw.hops > k_max_hops) {
                violation("a fence hopped more than " + std::to_string(k_max_hops) + " times");
                return;
            }
            nw.at = step->next;
            nw.pointer = step->pointer ? static_cast<std::int8_t>(*step->pointer) : -1;
            break;
        }
        out.push_back(n);
    }

    void switcher_steps(const State& s, std::vector<State>& out) {
        const Switcher& sw = s.sw;
        if (sw.phase != Switcher::idle && s.crashes < bounds.crashes) {
            State n = s;
            n.sw = Switcher{};
            ++n.crashes;
            out.push_back(n);
        }
        switch (sw.phase) {
        case Switcher::idle: {
            if (s.switches >= bounds.switches) return;
            // set_mode(): find the home unlocked, then lock it (the locked
            // read agrees: nothing moved in between, in one step here).
            auto home = resolve(s, ControlPlace::source, false, "the switch's read");
            if (!home || !reachable(s, *home) || shared_by_a_writer(s, *home)) return;
            const ModeRow& row = *s.rows[idx(*home)];
            State n = s;
            n.sw.phase = Switcher::locked;
            n.sw.home = *home;
            n.sw.before.mode = row.mode;
            n.sw.before.version = row.version;
            n.sw.before.place = *home;
            n.sw.before.confirmed = row.kind == ModeRow::Kind::mode;
            out.push_back(n);
            return;
        }
        case Switcher::locked: {
            if (!sw.before.confirmed) {  // set_mode() confirms a pending home first
                State n = s;
                n.rows[idx(sw.home)]->kind = ModeRow::Kind::mode;
                n.sw = Switcher{};
                out.push_back(n);
                return;
            }
            for (int d : {-1, 1}) {
                const int m = static_cast<int>(sw.before.mode) + d;
                if (m < 0 || m > static_cast<int>(Mode::dst_only)) continue;
                const Mode to = static_cast<Mode>(m);
                const std::vector<RowWrite> writes = rules.writes(sw.before, to);
                State n = s;
                n.sw.to = to;
                if (writes.size() == 1) {
                    n.rows[idx(writes[0].place)] = writes[0].row;
                    decisive(n, to);
                    n.sw = Switcher{};
                } else {
                    const RowWrite& first = writes[0];
                    if (!reachable(s, first.place) || shared_by_a_writer(s, first.place)) continue;
                    n.rows[idx(first.place)] = first.row;
                    n.sw.phase = Switcher::pending_written;
                }
                out.push_back(n);
            }
            return;
        }
        case Switcher::pending_written: {
            const RowWrite w = rules.writes(sw.before, sw.to)[1];
            if (!reachable(s, w.place)) return;  // the crash step gives up
            State n = s;
            n.rows[idx(w.place)] = w.row;
            decisive(n, sw.to);
            n.sw.phase = Switcher::pointer_written;
            if (w.row.kind == ModeRow::Kind::moved)
                (w.row.moved_to == ControlPlace::target ? reached_move_forward : reached_move_back) = true;
            out.push_back(n);
            return;
        }
        case Switcher::pointer_written: {
            const RowWrite w = rules.writes(sw.before, sw.to)[2];
            if (!reachable(s, w.place) || shared_by_a_writer(s, w.place)) return;
            State n = s;
            n.rows[idx(w.place)] = w.row;
            n.sw = Switcher{};
            out.push_back(n);
            return;
        }
        }
    }

    static void decisive(State& n, Mode to) {
        n.current = to;
        n.current_version = static_cast<std::int8_t>(n.sw.before.version + 1);
        ++n.switches;
    }

    std::size_t run() {
        State start;
        start.rows[0] = ModeRow{ModeRow::Kind::mode, Mode::src_only, ControlPlace::source, 0};
        std::unordered_set<std::string> seen{start.key()};
        std::deque<State> queue{start};
        while (!queue.empty() && violations.empty()) {
            State s = std::move(queue.front());
            queue.pop_front();
            check(s);
            std::vector<State> next;
            for (int i = 0; i < 2; ++i) writer_steps(s, i, next);
            switcher_steps(s, next);
            for (int side : {0, 1}) {
                State toggled = s;
                toggled.up[side] = !s.up[side];
                if (toggled.up[0] || toggled.up[1]) next.push_back(toggled);
            }
            for (auto& n : next)
                if (seen.insert(n.key()).second) queue.push_back(std::move(n));
        }
        return seen.size();
    }
};

std::string report(const Search& s) {
    std::string r;
    for (const auto& v : s.violations) r += "\n  " + v;
    return r;
}

TEST(FenceMoveModel, NoWriterEverAppliesAModeOtherThanTheCurrentOneAndTheTargetAloneSuffices) {
    Rules rules;
    Search search(rules);
    const std::size_t states = search.run();
    EXPECT_TRUE(search.violations.empty()) << report(search);
    // The search saw what it is about (a model that never moves checks nothing).
    EXPECT_TRUE(search.reached_move_forward);
    EXPECT_TRUE(search.reached_move_back);
    EXPECT_TRUE(search.reached_fallback_apply);
    EXPECT_TRUE(search.reached_unconfirmed);
    EXPECT_TRUE(search.reached_dst_only);
    EXPECT_GT(states, 10000u);
    std::printf("fence move model: %zu states\n", states);
}

// -- Teeth: one rule broken, the search finds it.

TEST(FenceMoveModel, AWriterThatTrustsAPendingRowWithoutThePointerAppliesAModeThatHasNotHappened) {
    Rules rules;
    rules.step = [](ControlPlace at, const std::optional<ModeRow>& row, std::optional<std::int64_t> pointer,
                    bool fell_back) {
        if (row && row->kind == ModeRow::Kind::pending) return HomeStep{HomeStep::What::apply, at, {}};
        return next_home_step(at, row, pointer, fell_back);
    };
    Search search(rules);
    search.run();
    ASSERT_FALSE(search.violations.empty());
    EXPECT_NE(search.violations[0].find("while the mode is"), std::string::npos) << report(search);
}

TEST(FenceMoveModel, ASwitchThatWritesTheNewHomeConfirmedBeforeThePointerLetsAWriterRunAhead) {
    Rules rules;
    rules.writes = [](const ModeState& before, Mode to) {
        std::vector<RowWrite> w = switch_writes(before, to, true);
        if (w.size() == 3) w[0].row.kind = ModeRow::Kind::mode;
        return w;
    };
    Search search(rules);
    search.run();
    ASSERT_FALSE(search.violations.empty());
    EXPECT_NE(search.violations[0].find("both rows hold a bare mode"), std::string::npos) << report(search);
    // Without invariant 4, invariant 1 catches the writer that applies it.
    Search writers_only(rules);
    writers_only.ignore_bare_rows = true;
    writers_only.run();
    ASSERT_FALSE(writers_only.violations.empty());
    EXPECT_NE(writers_only.violations[0].find("while the mode is"), std::string::npos) << report(writers_only);
}

TEST(FenceMoveModel, ASwitchThatPointsBeforeTheNewHomeIsWrittenLeavesWritersWithRowsThatDisagree) {
    Rules rules;
    rules.writes = [](const ModeState& before, Mode to) {
        std::vector<RowWrite> w = switch_writes(before, to, true);
        if (w.size() == 3) std::swap(w[0], w[1]);
        return w;
    };
    Search search(rules);
    search.run();
    EXPECT_FALSE(search.violations.empty());
}

TEST(FenceMoveModel, AWriterThatNeverLooksAtTheTargetsRowNeedsTheSourceEvenInDstOnly) {
    Rules rules;
    rules.fall_back = false;
    Search search(rules);
    search.run();
    ASSERT_FALSE(search.violations.empty());
    EXPECT_NE(search.violations[0].find("cannot take the fence without the"), std::string::npos) << report(search);
}

}  // namespace
}  // namespace fence_move_model
}  // namespace webook
