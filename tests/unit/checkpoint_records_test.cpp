// The typed checkpoint records (core/migration/checkpoint_records.h): each
// survives the round trip through a control-table row, reads the rows older
// versions wrote, and a row that does not decode reads as absent.
#include "core/migration/checkpoint_records.h"

#include <gtest/gtest.h>

namespace webook {
namespace {

Checkpoint row(CheckpointKind kind, std::optional<std::string> position, std::int64_t rows, std::string result,
               std::string shard = "all") {
    return {kind, "interactives", std::move(shard), std::move(position), rows, std::move(result), {}};
}

TEST(CopyProgress, RoundTripsRunningAndFinished) {
    const CopyProgress running{"interactives", "2/4", R"(["41"])", 41, false, 0};
    auto back = from_checkpoint<CopyProgress>(to_checkpoint(running));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->shard, "2/4");
    EXPECT_EQ(back->last_key, std::optional<std::string>(R"(["41"])"));
    EXPECT_EQ(back->rows, 41);
    EXPECT_FALSE(back->finished);

    const CopyProgress done{"interactives", "all", R"(["99"])", 99, true, 2.5};
    back = from_checkpoint<CopyProgress>(to_checkpoint(done));
    ASSERT_TRUE(back);
    EXPECT_TRUE(back->finished);
    EXPECT_DOUBLE_EQ(back->seconds, 2.5);
}

TEST(CopyProgress, ReadsTheRowsEarlierVersionsWrote) {
    // The layout of the copy checkpoint is what the gates of a migration
    // started with an older tool read after an upgrade.
    EXPECT_EQ(to_checkpoint(CopyProgress{"t", "all", R"(["7"])", 7, true, 1.0}).result,
              R"({"state":"done","rows":7,"seconds":1.000})");
    auto old = from_checkpoint<CopyProgress>(
        row(CheckpointKind::copy, R"(["7"])", 7, R"({"state":"done","rows":7,"seconds":0.125})"));
    ASSERT_TRUE(old);
    EXPECT_TRUE(old->finished);
    auto unfinished = from_checkpoint<CopyProgress>(row(CheckpointKind::copy, std::nullopt, 0, ""));
    ASSERT_TRUE(unfinished);
    EXPECT_FALSE(unfinished->finished);
    EXPECT_FALSE(unfinished->last_key);
}

TEST(CheckpointRecords, ARowOfAnotherKindOrThatDoesNotDecodeReadsAsAbsent) {
    EXPECT_FALSE(from_checkpoint<CopyProgress>(row(CheckpointKind::copy, R"(["7"])", 7, "{not json")));
    EXPECT_FALSE(from_checkpoint<CopyProgress>(row(CheckpointKind::validate_incremental, "x", 0, "")));
    EXPECT_FALSE(from_checkpoint<IncrementalWatermark>(row(CheckpointKind::validate_incremental, std::nullopt, 0, "")));
    EXPECT_FALSE(from_checkpoint<DeferredIndex>(row(CheckpointKind::copy_index, std::nullopt, 0, "")));
    EXPECT_FALSE(from_checkpoint<ShardPlanRecord>(row(CheckpointKind::shard_plan, "[1,2]", 0, "", "of 3")));
    EXPECT_FALSE(from_checkpoint<ShardPlanRecord>(row(CheckpointKind::shard_plan, R"([["1"]])", 0, "", "all")));
    const std::vector<Checkpoint> rows{row(CheckpointKind::copy, std::nullopt, 0, ""),
                                       row(CheckpointKind::copy, R"(["1"])", 1, "[]"),
                                       row(CheckpointKind::fix, "x", 3, "")};
    EXPECT_EQ(records_of<CopyProgress>(rows).size(), 1u);
}

TEST(DeferredIndex, KeepsItsNameAndDefinitionUnderAShortSlot) {
    const DeferredIndex ix{"interactives", "idx_interactives_biz_and_a_very_long_name_indeed", "KEY (biz)"};
    const Checkpoint c = to_checkpoint(ix);
    EXPECT_EQ(c.shard.size(), 16u);  // the shard column is 16 wide
    EXPECT_NE(c.shard, to_checkpoint(DeferredIndex{"interactives", "idx_other", ""}).shard);
    auto back = from_checkpoint<DeferredIndex>(c);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->name, ix.name);
    EXPECT_EQ(back->definition, "KEY (biz)");
}

TEST(IncrementalWatermark, RoundTripsWithItsCounts) {
    const IncrementalWatermark w{"interactives", "1/2", "2026-12-02 01:02:03.000004", 120, 1, 2, 3};
    auto back = from_checkpoint<IncrementalWatermark>(to_checkpoint(w));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->watermark, w.watermark);
    EXPECT_EQ(back->rows, 120);
    EXPECT_EQ(back->target_missing, 1u);
    EXPECT_EQ(back->neq, 2u);
    EXPECT_EQ(back->base_missing, 3u);
}

TEST(ShardPlanRecord, RoundTripsItsBoundariesInOrder) {
    const ShardPlanRecord p{"interactives", 3, {R"(["100"])", R"(["200"])"}, "span"};
    const Checkpoint c = to_checkpoint(p);
    EXPECT_EQ(c.shard, "of 3");
    EXPECT_EQ(c.position, std::optional<std::string>(R"([["100"],["200"]])"));
    auto back = from_checkpoint<ShardPlanRecord>(c);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->shards, 3);
    EXPECT_EQ(back->boundaries, p.boundaries);
    EXPECT_EQ(back->method, "span");
}

TEST(ForcedSwitch, RoundTrips) {
    const ForcedSwitch f{Mode::src_first, Mode::dst_first, 3, "ops@host", 1'700'000'000'000'000, "drill", {"a", "b"}};
    auto back = from_checkpoint<ForcedSwitch>(to_checkpoint(f));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->from, Mode::src_first);
    EXPECT_EQ(back->to, Mode::dst_first);
    EXPECT_EQ(back->version, 3);
    EXPECT_EQ(back->who, "ops@host");
    EXPECT_EQ(back->at_us, f.at_us);
    EXPECT_EQ(back->unmet, f.unmet);
}

}  // namespace
}  // namespace webook
