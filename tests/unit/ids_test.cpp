// The snowflake id generator (platform/ids.h), with a clock the test controls.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "core/base/error.h"
#include "platform/ids.h"
#include "tests/support/manual_clock.h"

namespace webook {
namespace {

constexpr std::int64_t k_2026_micros = 1'780'000'000'000'000;

TEST(IdGenerator, PacksMillisecondsWorkerAndSequence) {
    testing::ManualClock clock(k_2026_micros);
    IdGenerator ids(5, clock);
    const std::int64_t a = ids.next();
    const std::int64_t b = ids.next();
    IdParts pa = IdGenerator::decode(a);
    EXPECT_EQ(pa.millis_since_epoch, k_2026_micros / 1000 - IdGenerator::k_epoch_millis);
    EXPECT_EQ(pa.worker_id, 5);
    EXPECT_EQ(pa.sequence, 0);
    EXPECT_EQ(IdGenerator::decode(b).sequence, 1);
    EXPECT_GT(a, 0);

    clock.advance(std::chrono::milliseconds(1));  // the next millisecond starts a new sequence
    IdParts pc = IdGenerator::decode(ids.next());
    EXPECT_EQ(pc.millis_since_epoch, pa.millis_since_epoch + 1);
    EXPECT_EQ(pc.sequence, 0);
}

TEST(IdGenerator, StaysIncreasingWhenTheClockStepsBackOrAMillisecondRunsOut) {
    testing::ManualClock clock(k_2026_micros);
    IdGenerator ids(1, clock);
    std::int64_t last = ids.next();
    for (int i = 0; i < 10000; ++i) {  // more than 4096 in one millisecond
        const std::int64_t id = ids.next();
        ASSERT_GT(id, last);
        last = id;
    }
    clock.set_wall(k_2026_micros - 5'000'000);  // the clock steps back five seconds
    for (int i = 0; i < 100; ++i) {
        const std::int64_t id = ids.next();
        ASSERT_GT(id, last);
        last = id;
    }
    ids.set_worker_id(0);  // a lower worker id still continues upwards
    EXPECT_GT(ids.next(), last);
}

TEST(IdGenerator, IsUniqueAcrossThreads) {
    IdGenerator ids(3);
    constexpr int k_threads = 8;
    constexpr int k_per_thread = 20000;
    std::vector<std::vector<std::int64_t>> made(k_threads);
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < k_per_thread; ++i) made[t].push_back(ids.next());
        });
    for (auto& th : threads) th.join();
    std::set<std::int64_t> all;
    for (const auto& v : made) {
        EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
        all.insert(v.begin(), v.end());
    }
    EXPECT_EQ(all.size(), static_cast<std::size_t>(k_threads * k_per_thread));
}

TEST(IdGenerator, RefusesWorkerIdsThatDoNotFitTenBits) {
    EXPECT_THROW(IdGenerator(1024), Error);
    EXPECT_THROW(IdGenerator(-1), Error);
    IdGenerator ids(1023);
    EXPECT_EQ(IdGenerator::decode(ids.next()).worker_id, 1023);
    const int w = IdGenerator::default_worker_id();
    EXPECT_GE(w, 0);
    EXPECT_LE(w, IdGenerator::k_max_worker_id);
}

}  // namespace
}  // namespace webook
