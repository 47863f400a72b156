// The switch gates (migrate/gates.h) and the phase rules
// (core/migration/migration_mode.h), as pure decisions: every precondition of every
// step, met and unmet.
#include "migrate/gates.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/migration/checkpoint.h"
#include "core/migration/checkpoint_records.h"
#include "core/migration/migration_mode.h"

namespace webook {
namespace {

constexpr std::int64_t k_minute = 60'000'000;
constexpr std::int64_t k_now = 1'000'000 * k_minute;

CopyProgress copy_checkpoint(const std::string& table, const std::string& shard, bool done) {
    CopyProgress c;
    c.table = table;
    c.shard = shard;
    c.last_key = "[\"100\"]";
    c.rows = 100;
    c.finished = done;
    return c;
}

PassRecord pass(const std::string& table, BaseSide base, std::int64_t started, std::int64_t ended,
                std::uint64_t found = 0, const std::string& shard = "all") {
    PassRecord p;
    p.table = table;
    p.kind = PassKind::incremental;
    p.shard = shard;
    p.base = base;
    p.started_us = started;
    p.ended_us = ended;
    p.found = found;
    return p;
}

// Two tables, both copied and each with a fresh clean pass with `base`.
GateInput ready_input(Mode from, Mode to, BaseSide base) {
    GateInput in;
    in.from = from;
    in.to = to;
    in.now_us = k_now;
    for (const char* name : {"interactives", "articles"}) {
        TableEvidence t;
        t.table = name;
        t.copies.push_back(copy_checkpoint(name, "all", true));
        t.passes.push_back(pass(name, base, k_now - 2 * k_minute, k_now - k_minute));
        in.tables.push_back(t);
    }
    return in;
}

bool mentions(const GateVerdict& v, const std::string& text) {
    for (const auto& u : v.unmet)
        if (u.find(text) != std::string::npos) return true;
    return false;
}

TEST(Gates, EachStepIsReadyWhenItsPreconditionsHold) {
    EXPECT_TRUE(check_gate(ready_input(Mode::src_only, Mode::src_first, BaseSide::src)).ready());
    EXPECT_TRUE(check_gate(ready_input(Mode::src_first, Mode::dst_first, BaseSide::src)).ready());
    EXPECT_TRUE(check_gate(ready_input(Mode::dst_first, Mode::dst_only, BaseSide::dst)).ready());
    EXPECT_TRUE(check_gate(ready_input(Mode::dst_only, Mode::dst_first, BaseSide::dst)).ready());
    EXPECT_TRUE(check_gate(ready_input(Mode::dst_first, Mode::src_first, BaseSide::src)).ready());
    EXPECT_TRUE(check_gate(ready_input(Mode::src_first, Mode::src_only, BaseSide::src)).ready());
}

TEST(Gates, ForwardStepsNeedThePassOfThePhaseTheyLeaveAndRollbacksThatOfThePhaseTheyEnter) {
    // -> dst_first: the source was base while the evidence was gathered.
    GateVerdict v = check_gate(ready_input(Mode::src_first, Mode::dst_first, BaseSide::dst));
    EXPECT_EQ(v.unmet.size(), 2u);
    EXPECT_TRUE(mentions(v, "interactives: last incremental pass had base dst, the step needs one with base src"));
    // dst_first -> src_first: the source becomes base again, so a pass with it as base.
    v = check_gate(ready_input(Mode::dst_first, Mode::src_first, BaseSide::dst));
    EXPECT_TRUE(mentions(v, "needs one with base src")) << v.unmet[0];
    v = check_gate(ready_input(Mode::dst_first, Mode::dst_only, BaseSide::src));
    EXPECT_TRUE(mentions(v, "needs one with base dst"));
}

TEST(Gates, ToSrcFirstEveryTableIsCopiedItsIndexesRebuiltAndTheTargetHasItsUniqueIndexes) {
    GateInput in = ready_input(Mode::src_only, Mode::src_first, BaseSide::src);
    in.tables[0].copies = {copy_checkpoint("interactives", "all", false)};
    in.tables[1].pending_indexes = {"idx_author"};
    TableEvidence never;
    never.table = "user_like_bizs";
    in.tables.push_back(never);
    TableEvidence no_index;
    no_index.table = "jobs";
    no_index.copies.push_back(copy_checkpoint("jobs", "all", true));
    no_index.missing_unique = {"(name)"};
    in.tables.push_back(no_index);
    GateVerdict v = check_gate(in);
    ASSERT_EQ(v.unmet.size(), 4u);
    EXPECT_TRUE(mentions(v,
                         "interactives: copy unfinished (run 'webookctl migrate copy --table "
                         "interactives --resume')"));
    EXPECT_TRUE(mentions(v, "articles: deferred indexes not rebuilt yet: idx_author"));
    EXPECT_TRUE(mentions(v, "user_like_bizs: not copied"));
    EXPECT_TRUE(mentions(v, "jobs: the target lacks the source's unique index (name)"));
}

TEST(Gates, AShardedCopyCountsOnlyWhenEveryShardFinished) {
    GateInput in = ready_input(Mode::src_only, Mode::src_first, BaseSide::src);
    in.tables.resize(1);
    in.tables[0].copies = {copy_checkpoint("interactives", "1/3", true), copy_checkpoint("interactives", "3/3", true)};
    EXPECT_TRUE(mentions(check_gate(in), "not every shard of its copy has run"));
    in.tables[0].copies.push_back(copy_checkpoint("interactives", "2/3", false));
    EXPECT_TRUE(mentions(check_gate(in), "interactives shard 2/3: copy unfinished"));
    in.tables[0].copies[2] = copy_checkpoint("interactives", "2/3", true);
    EXPECT_TRUE(check_gate(in).ready());
}

TEST(Gates, APassCountsOnlyCleanRecentContinuedAndBegunAfterTheLastSecondSideFailure) {
    auto one = [](PassRecord p, std::optional<std::int64_t> failure = std::nullopt) {
        GateInput in = ready_input(Mode::src_first, Mode::dst_first, BaseSide::src);
        in.tables.resize(1);
        in.tables[0].passes = {p};
        in.last_failure_us = failure;
        return check_gate(in);
    };
    const PassRecord clean = pass("interactives", BaseSide::src, k_now - 2 * k_minute, k_now - k_minute);
    EXPECT_TRUE(one(clean).ready());

    PassRecord found = clean;
    found.found = 3;
    EXPECT_TRUE(mentions(one(found), "last incremental pass found 3 differences"));

    PassRecord old = pass("interactives", BaseSide::src, k_now - 50 * k_minute, k_now - 43 * k_minute);
    EXPECT_TRUE(mentions(one(old), "interactives: last clean incremental pass 43m ago (max 10m"));

    PassRecord since = clean;
    since.continued = false;
    EXPECT_TRUE(mentions(one(since), "--since"));

    // A failure counted after the pass began may not have been seen.
    EXPECT_TRUE(mentions(one(clean, k_now - 90'000'000), "a second-side write failed"));
    EXPECT_TRUE(one(clean, k_now - 3 * k_minute).ready());

    GateInput none = ready_input(Mode::src_first, Mode::dst_first, BaseSide::src);
    none.tables[1].passes.clear();
    EXPECT_TRUE(mentions(check_gate(none), "articles: no incremental validation pass recorded"));
}

TEST(Gates, APassCountsOnlyWhenItBeganInTheCurrentPhase) {
    // A write in src_only reaches the source alone and is no failure: a pass
    // begun before the switch to src_first proves nothing about the target.
    GateInput in = ready_input(Mode::src_first, Mode::dst_first, BaseSide::src);
    in.from_version = 1;
    for (auto& t : in.tables) t.passes[0].mode_version = 1;
    EXPECT_TRUE(check_gate(in).ready());
    in.tables[0].passes[0].mode_version = 0;
    in.tables[0].passes[0].mode = "src_only";
    GateVerdict v = check_gate(in);
    ASSERT_EQ(v.unmet.size(), 1u);
    EXPECT_TRUE(mentions(v,
                         "interactives: last incremental pass began in an earlier phase (src_only), before the "
                         "switch to src_first"));
}

TEST(Gates, ShardedPassesCountWhenEveryShardOfOneSplitIsClean) {
    GateInput in = ready_input(Mode::src_first, Mode::dst_first, BaseSide::src);
    in.tables.resize(1);
    in.tables[0].passes = {pass("interactives", BaseSide::src, k_now - 2 * k_minute, k_now - k_minute, 0, "1/2")};
    EXPECT_TRUE(mentions(check_gate(in), "no incremental validation pass recorded"));
    in.tables[0].passes.push_back(
        pass("interactives", BaseSide::src, k_now - 2 * k_minute, k_now - k_minute, 2, "2/2"));
    EXPECT_TRUE(mentions(check_gate(in), "interactives shard 2/2: last incremental pass found 2 differences"));
    in.tables[0].passes[1].found = 0;
    EXPECT_TRUE(check_gate(in).ready());
}

TEST(Gates, AFixerBacklogBlocksTheValidationGatesWhenItsGroupIsNamed) {
    GateInput in = ready_input(Mode::src_first, Mode::dst_first, BaseSide::src);
    in.fixer_group = "fixers";
    in.fixer_lag = 0;
    EXPECT_TRUE(check_gate(in).ready());
    in.fixer_lag = 3;
    EXPECT_TRUE(mentions(check_gate(in), "fixer group fixers has 3 unprocessed events"));
    GateInput copy = ready_input(Mode::src_only, Mode::src_first, BaseSide::src);
    copy.fixer_lag = 3;  // nothing to fix before double-writes start
    EXPECT_TRUE(check_gate(copy).ready());
}

TEST(Gates, NoKnownTableIsNeverReadyAndIllegalOrNoStepsHaveNoGate) {
    GateInput in;
    in.from = Mode::src_only;
    in.to = Mode::src_first;
    EXPECT_TRUE(mentions(check_gate(in), "no table of the migration is known"));
    in.to = Mode::src_only;
    EXPECT_TRUE(check_gate(in).ready());
    in.to = Mode::dst_first;  // two steps: refused by transition_allowed(), not by a gate
    EXPECT_TRUE(check_gate(in).ready());
}

TEST(Gates, TheMigrationsTablesAreTheConfiguredOnesAndEveryCopiedOne) {
    std::vector<TableConfig> configured(2);
    configured[0].name = "articles";
    configured[1].name = "interactives";
    std::vector<Checkpoint> cps{to_checkpoint(copy_checkpoint("interactives", "all", true)),
                                to_checkpoint(copy_checkpoint("jobs", "1/2", false))};
    Checkpoint other;
    other.kind = CheckpointKind::validate_incremental;
    other.table = "users";
    cps.push_back(other);
    EXPECT_EQ(migration_tables(configured, cps), (std::vector<std::string>{"articles", "interactives", "jobs"}));
}

TEST(PhaseRules, CopyIsAllowedOnlyInSrcOnlyAndEachRefusalSaysTheWayBack) {
    EXPECT_EQ(copy_refusal(Mode::src_only), "");
    for (Mode m : {Mode::src_first, Mode::dst_first, Mode::dst_only}) {
        const std::string why = copy_refusal(m);
        EXPECT_NE(why.find(std::string("in ") + std::string(mode_name(m))), std::string::npos) << why;
        EXPECT_NE(why.find("roll back first ('webookctl migrate mode set"), std::string::npos) << why;
    }
}

TEST(PhaseRules, TheFixerRepairsFromTheCurrentBaseWhateverTheEventSays) {
    for (BaseSide named : {BaseSide::src, BaseSide::dst}) {
        EXPECT_EQ(fix_base(Mode::src_only, named), BaseSide::src);
        EXPECT_EQ(fix_base(Mode::src_first, named), BaseSide::src);
        EXPECT_EQ(fix_base(Mode::dst_first, named), BaseSide::dst);
        EXPECT_EQ(fix_base(Mode::dst_only, named), BaseSide::dst);
    }
}

// The stored names are the control table's format: renaming one would
// orphan every checkpoint a running migration has.
TEST(CheckpointKinds, KeepTheirStoredNamesAndUnknownNamesAreNotGuessed) {
    const std::vector<std::pair<CheckpointKind, std::string>> stored{
        {CheckpointKind::copy, "copy"},
        {CheckpointKind::copy_index, "copy-index"},
        {CheckpointKind::validate_incremental, "validate-incremental"},
        {CheckpointKind::shard_plan, "shard-plan"},
        {CheckpointKind::fix, "fix"},
        {CheckpointKind::mode_forced, "mode-forced"},
        {CheckpointKind::pass_incremental, "validate-pass-incremental"},
        {CheckpointKind::pass_full, "validate-pass-full"},
        {CheckpointKind::validate_full, "validate-full"}};
    for (const auto& [kind, name] : stored) {
        EXPECT_EQ(checkpoint_kind_name(kind), name);
        EXPECT_EQ(parse_checkpoint_kind(name), kind);
    }
    EXPECT_EQ(parse_checkpoint_kind("validate-pass-"), std::nullopt);
    EXPECT_EQ(parse_checkpoint_kind("Copy"), std::nullopt);
}

TEST(ForcedSwitches, DecodeOldestFirstAndSkipWhatDoesNotDecode) {
    auto row = [](std::int64_t version, std::string result) {
        Checkpoint c;
        c.kind = CheckpointKind::mode_forced;
        c.rows_done = version;
        c.result = std::move(result);
        return c;
    };
    const std::vector<Checkpoint> rows{
        row(4, R"({"from":"dst_first","to":"dst_only","version":4,"who":"ops@h","at":"x","at_us":9,)"
               R"("reason":"by hand","unmet":["a","b"]})"),
        row(2, R"({"from":"src_only","to":"src_first","version":2,"who":"ops@h","at":"x","at_us":5,)"
               R"("reason":"drill","unmet":[]})"),
        row(3, "not json"),
        row(5, R"({"from":"sideways","to":"dst_only","version":5,"who":"","at":"","at_us":1,"reason":"","unmet":[]})")};
    const auto got = forced_switches(rows);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].version, 2);
    EXPECT_EQ(got[0].from, Mode::src_only);
    EXPECT_EQ(got[0].reason, "drill");
    EXPECT_EQ(got[1].to, Mode::dst_only);
    EXPECT_EQ(got[1].at_us, 9);
    EXPECT_EQ(got[1].unmet, (std::vector<std::string>{"a", "b"}));
}

TEST(PassRecords, SurviveTheControlTableRoundTrip) {
    PassRecord p = pass("interactives", BaseSide::dst, 5, 9, 2, "2/4");
    p.mode = "dst_first";
    p.mode_version = 3;
    p.continued = false;
    Checkpoint c;
    c.kind = CheckpointKind::pass_incremental;
    c.table = p.table;
    c.shard = p.shard;
    c.result =
        R"({"base":"dst","mode":"dst_first","mode_version":3,"started_us":5,"ended_us":9,"found":2,"continued":false})";
    Checkpoint junk = c;
    junk.result = "not json";
    auto back = records_of<PassRecord>({c, junk});
    ASSERT_EQ(back.size(), 1u);
    EXPECT_EQ(back[0].table, "interactives");
    EXPECT_EQ(back[0].kind, PassKind::incremental);
    EXPECT_EQ(back[0].shard, "2/4");
    EXPECT_EQ(back[0].base, BaseSide::dst);
    EXPECT_EQ(back[0].mode_version, 3);
    EXPECT_EQ(back[0].found, 2u);
    EXPECT_FALSE(back[0].continued);
}

}  // namespace
}  // namespace webook
