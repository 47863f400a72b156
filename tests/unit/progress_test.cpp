#include "core/base/progress.h"

#include <gtest/gtest.h>

namespace webook {
namespace {

TEST(ProgressText, WithAnEstimatedTotalShowsPercentAndEta) {
    EXPECT_EQ(progress_text("copying t", 400'000, 1'000'000, 2.0, 0),
              "copying t: 400000 of ~1000000 rows (40%), 200000 rows/s, ETA 3s, 2s");
    EXPECT_EQ(progress_text("copying t", 1'000, 1'000'000, 10.0, 0),
              "copying t: 1000 of ~1000000 rows (0%), 100 rows/s, ETA 2h46m, 10s");
    EXPECT_EQ(progress_text("fixing", 50, 200, 1.0, 0, "events"),
              "fixing: 50 of ~200 events (25%), 50 events/s, ETA 3s, 1s");
    EXPECT_EQ(progress_text("t", 100, 1'000, 100.0, 0), "t: 100 of ~1000 rows (10%), 1 rows/s, ETA 15m00s, 100s");
}

TEST(ProgressText, AnEstimateReachedSaysNinetyNineAndOnePassedShowsTheRowsAlone) {
    EXPECT_EQ(progress_text("t", 1'000, 1'000, 1.0, 0), "t: 1000 of ~1000 rows (99%), 1000 rows/s, ETA 0s, 1s");
    EXPECT_EQ(progress_text("t", 1'200, 1'000, 1.0, 0), "t: 1200 rows, 1200 rows/s, 1s");
}

TEST(ProgressText, WithoutATotalOrBeforeAnyRowsNoEta) {
    EXPECT_EQ(progress_text("validating t", 5'000, 0, 2.0, 3),
              "validating t: 5000 rows, 2500 rows/s, 2s, 3 inconsistencies");
    EXPECT_EQ(progress_text("t", 0, 1'000, 0.0, 0), "t: 0 of ~1000 rows (0%), 0 rows/s, 0s");
}

}  // namespace
}  // namespace webook
