#include "validate/chunk_lead.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/db/dialect.h"

namespace webook {
namespace {

using namespace std::chrono_literals;

// Chunks of 10 keys over keys 1..`last`, as run_leading_chunk cuts them.
LeadingChunk cut_of_ten(const std::optional<Row>& after, std::int64_t last) {
    const std::int64_t from = after ? after->front().as_int() : 0;
    LeadingChunk c;
    c.sum.rows = std::min<std::int64_t>(10, std::max<std::int64_t>(0, last - from));
    c.sum.hash = static_cast<std::uint64_t>(from);
    if (c.sum.rows == 10) c.up_to = Row{Value::integer(from + 10)};
    return c;
}

TEST(ChunkLead, HandsOutTheChunksInKeyOrderToTheFinalOne) {
    ChunkLead lead([](const std::optional<Row>& after) { return cut_of_ten(after, 35); }, std::nullopt);
    std::vector<std::int64_t> rows;
    for (;;) {
        LeadingChunk c = lead.next();
        rows.push_back(c.sum.rows);
        if (!c.up_to) break;
        EXPECT_EQ(c.up_to->front().as_int(), static_cast<std::int64_t>(rows.size()) * 10);
    }
    EXPECT_EQ(rows, (std::vector<std::int64_t>{10, 10, 10, 5}));
}

TEST(ChunkLead, StartsAfterTheKeyGivenAndCutsNoMoreThanDepthAhead) {
    std::atomic<int> cuts = 0;
    ChunkLead lead(
        [&](const std::optional<Row>& after) {
            ++cuts;
            return cut_of_ten(after, 1000);
        },
        Row{Value::integer(500)}, 3);
    LeadingChunk first = lead.next();
    EXPECT_EQ(first.sum.hash, 500u);
    // It runs ahead to the one taken and three ready, and stops there.
    for (int i = 0; i < 500 && cuts.load() < 4; ++i) std::this_thread::sleep_for(10ms);
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(cuts.load(), 4);
}

TEST(ChunkLead, APauseLeavesTheConnectionFreeUntilResumed) {
    std::mutex m;
    bool merging = false;
    bool overlapped = false;
    std::atomic<int> cuts = 0;
    ChunkLead lead(
        [&](const std::optional<Row>& after) {
            {
                std::lock_guard lock(m);
                if (merging) overlapped = true;
            }
            ++cuts;
            std::this_thread::sleep_for(5ms);  // a query in flight when the pause comes
            return cut_of_ten(after, 10000);
        },
        std::nullopt, 2);
    lead.next();
    lead.pause();
    {
        std::lock_guard lock(m);
        merging = true;
    }
    const int before = cuts.load();
    std::this_thread::sleep_for(50ms);  // the merge
    EXPECT_EQ(cuts.load(), before);
    {
        std::lock_guard lock(m);
        merging = false;
    }
    lead.resume();
    // The chunks cut before the pause are still handed out, in order.
    EXPECT_EQ(lead.next().sum.hash, 10u);
    EXPECT_EQ(lead.next().sum.hash, 20u);
    EXPECT_EQ(lead.next().sum.hash, 30u);
    EXPECT_FALSE(overlapped);
}

TEST(ChunkLead, AFailureComesOutOfNextAfterTheChunksCutBeforeIt) {
    ChunkLead lead(
        [](const std::optional<Row>& after) {
            if (after && after->front().as_int() >= 20) throw Error(Code::connection, "server went away");
            return cut_of_ten(after, 100);
        },
        std::nullopt);
    EXPECT_EQ(lead.next().sum.hash, 0u);
    EXPECT_EQ(lead.next().sum.hash, 10u);
    try {
        lead.next();
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::connection);
    }
}

TEST(ChunkLead, StopsWhenDestroyedWithChunksUntaken) {
    std::atomic<int> cuts = 0;
    {
        ChunkLead lead(
            [&](const std::optional<Row>& after) {
                ++cuts;
                return cut_of_ten(after, 1'000'000);
            },
            std::nullopt);
        lead.next();
    }
    const int at_end = cuts.load();
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(cuts.load(), at_end);
    EXPECT_LE(at_end, 3);
}

// A differing chunk's buckets reach the top of BIGINT without overflowing:
// the last ends at `high`, however the width divides the span.
TEST(KeyBuckets, TheLastBucketEndsAtTheChunksEndEvenAtTheTopOfBigint) {
    KeyBuckets b;
    b.low = 1'000'000'000'000'117;
    b.high = std::numeric_limits<std::int64_t>::max() - 10;
    const __int128 span = __int128(b.high) - b.low;
    b.width = static_cast<std::int64_t>(span / 256 + 1);
    EXPECT_EQ(b.count(), 256);
    EXPECT_EQ(b.end_of(b.count() - 1), b.high);
    EXPECT_EQ(b.end_of(0), b.low + b.width);
    for (std::int64_t i = 1; i < b.count(); ++i) EXPECT_GT(b.end_of(i), b.end_of(i - 1)) << i;

    KeyBuckets small{-10, 5, 4};  // (-10, -6], (-6, -2], (-2, 2], (2, 5]
    EXPECT_EQ(small.count(), 4);
    EXPECT_EQ(small.end_of(2), 2);
    EXPECT_EQ(small.end_of(3), 5);
}

TEST(KeyBuckets, EachSideGroupsTheChunksRowsByBucketInOneQuery) {
    SidePlan side;
    side.table = "t";
    side.columns = {"id", "v"};
    side.kinds = {ValueKind::integer, ValueKind::integer};
    side.key = {"id"};
    side.decimal_scales = {-1, -1};
    side.nullable = {false, false};
    side.sql_types = {"bigint", "bigint"};
    const KeyBuckets b{-5, 1000, 100};
    const BoundSql my = bucket_query(dialect_for(Engine::mysql), side, b);
    EXPECT_NE(my.sql.find("(`id` - (-5) - 1) DIV 100 AS webook_b"), std::string::npos) << my.sql;
    EXPECT_NE(my.sql.find("GROUP BY webook_b"), std::string::npos) << my.sql;
    ASSERT_EQ(my.params.size(), 2u);  // the chunk's ends, bound
    EXPECT_EQ(my.params[0].as_int(), -5);
    EXPECT_EQ(my.params[1].as_int(), 1000);
    const BoundSql pg = bucket_query(dialect_for(Engine::postgres), side, b);
    EXPECT_NE(pg.sql.find("(\"id\" - (-5) - 1) / 100 AS webook_b"), std::string::npos) << pg.sql;
    side.kinds[0] = ValueKind::unsigned_integer;  // unsigned keys are merged whole
    EXPECT_FALSE(key_buckets_supported(side));
    EXPECT_THROW(bucket_query(dialect_for(Engine::mysql), side, b), Error);
}

}  // namespace
}  // namespace webook
