// The hot ranking's pure parts: the score formula and the bounded min-heap
// that keeps the top N while articles stream by.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "platform/ranking.h"

namespace webook {
namespace {

TEST(HotScore, FollowsTheFormula) {
    EXPECT_DOUBLE_EQ(hot_score(101, 2.0, 1.5), 100.0 / 8.0);
    EXPECT_DOUBLE_EQ(hot_score(1, 10.0, 1.5), 0.0);
    EXPECT_DOUBLE_EQ(hot_score(0, 0.0, 1.0), -0.5);
    EXPECT_DOUBLE_EQ(hot_score(11, 7.0, 2.0), 10.0 / 81.0);
    // Newer beats older at equal likes; more likes beat fewer at equal age.
    EXPECT_GT(hot_score(50, 1.0, 1.5), hot_score(50, 30.0, 1.5));
    EXPECT_GT(hot_score(51, 5.0, 1.5), hot_score(50, 5.0, 1.5));
}

RankedArticle article(std::int64_t id, double score) {
    RankedArticle a;
    a.article_id = id;
    a.score = score;
    return a;
}

TEST(TopN, KeepsTheBestInOrderWithTiesBrokenById) {
    std::mt19937_64 rng(5);
    std::vector<RankedArticle> all;
    for (std::int64_t id = 1; id <= 20000; ++id)
        all.push_back(article(id, static_cast<double>(rng() % 500)));  // many ties
    std::shuffle(all.begin(), all.end(), rng);
    for (std::size_t n : {1u, 7u, 100u, 20000u, 30000u}) {
        TopN top(n);
        for (const auto& a : all) top.offer(a);
        auto got = top.take_sorted();
        auto expected = all;
        std::sort(expected.begin(), expected.end(), ranks_above);
        expected.resize(std::min(n, expected.size()));
        ASSERT_EQ(got.size(), expected.size());
        for (std::size_t i = 0; i < got.size(); ++i) {
            EXPECT_EQ(got[i].article_id, expected[i].article_id) << "n " << n << " position " << i + 1;
            EXPECT_EQ(got[i].position, static_cast<int>(i + 1));
        }
        EXPECT_EQ(top.size(), 0u);
    }
}

TEST(TopN, NegativeScoresRankBelowPositiveOnes) {
    TopN top(2);
    top.offer(article(1, -0.5));
    top.offer(article(2, 3.0));
    top.offer(article(3, -0.1));
    top.offer(article(4, 0.0));
    auto got = top.take_sorted();
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].article_id, 2);
    EXPECT_EQ(got[1].article_id, 4);
}

}  // namespace
}  // namespace webook
