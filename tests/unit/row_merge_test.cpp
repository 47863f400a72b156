#include "validate/row_merge.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/migration/prefetch.h"

namespace webook {
namespace {

using Batches = std::vector<std::vector<Row>>;

// Batches from memory, in the order given (empty batches included).
class VectorSource final : public BatchSource {
public:
    explicit VectorSource(Batches batches) : m_batches(std::move(batches)) {}

    bool next(std::vector<Row>& out) override {
        out.clear();
        if (m_next >= m_batches.size()) return false;
        out = m_batches[m_next++];
        return true;
    }

private:
    Batches m_batches;
    std::size_t m_next = 0;
};

// Delivers `batches`, then throws instead of ending: a scan failing part-way.
class FailingSource final : public BatchSource {
public:
    explicit FailingSource(Batches batches) : m_inner(std::move(batches)) {}

    bool next(std::vector<Row>& out) override {
        if (m_inner.next(out)) return true;
        throw Error(Code::server, "lost connection to 10.0.0.5:3306 during query", Temporary::yes);
    }

private:
    VectorSource m_inner;
};

// An endless source of one-row batches that counts its calls.
class EndlessSource final : public BatchSource {
public:
    bool next(std::vector<Row>& out) override {
        const int n = ++m_calls;
        out = {Row{Value::integer(n)}};
        return true;
    }
    int calls() const { return m_calls.load(); }

private:
    std::atomic<int> m_calls{0};
};

// Rows as text, so gtest can compare and print them.
std::vector<std::string> shown(const Row& r) {
    std::vector<std::string> out;
    for (const auto& v : r) out.push_back(std::string(kind_name(v.kind())) + ":" + v.display());
    return out;
}

std::vector<std::vector<std::string>> shown(const std::vector<Row>& rs) {
    std::vector<std::vector<std::string>> out;
    for (const auto& r : rs) out.push_back(shown(r));
    return out;
}

Row row(std::int64_t id, Value v) {
    return Row{Value::integer(id), std::move(v)};
}
Row row(std::int64_t id, const char* v) {
    return row(id, Value::text(v));
}

struct Difference {
    EventType type;
    Row key;
    std::vector<std::size_t> columns;  // a neq's differing positions
    Row base, other;                   // a neq's rows
};

struct MergeResult {
    MergeCounts counts;
    std::vector<Difference> differences;
};

MergeResult merge(Batches base, Batches other, std::size_t key_size = 1) {
    VectorSource b(std::move(base)), o(std::move(other));
    MergeResult r;
    r.counts = merge_sorted(b, o, key_size, [&](EventType type, const Row& key, const NeqDetail& neq) {
        r.differences.push_back({type, key, neq.columns, neq.base ? *neq.base : Row{}, neq.other ? *neq.other : Row{}});
    });
    return r;
}

// The first key value of each difference of `type`.
std::vector<std::int64_t> ids_of(const MergeResult& r, EventType type) {
    std::vector<std::int64_t> out;
    for (const auto& d : r.differences)
        if (d.type == type) out.push_back(d.key.at(0).as_int());
    return out;
}

std::vector<Row> rows(std::initializer_list<std::int64_t> ids) {
    std::vector<Row> out;
    for (auto id : ids) out.push_back(row(id, "v"));
    return out;
}

TEST(RowMerge, IdenticalStreamsHaveNoDifferences) {
    const MergeResult r = merge({rows({1, 2, 3}), rows({4, 5})}, {rows({1}), rows({2, 3, 4, 5})});
    EXPECT_EQ(r.counts.differences(), 0u);
    EXPECT_TRUE(r.differences.empty());
    EXPECT_EQ(r.counts.base_rows, 5u);
    EXPECT_EQ(r.counts.other_rows, 5u);
}

TEST(RowMerge, TwoEmptyStreamsHaveNoDifferences) {
    const MergeResult r = merge({}, {{}, {}});
    EXPECT_EQ(r.counts.differences(), 0u);
    EXPECT_EQ(r.counts.base_rows, 0u);
    EXPECT_EQ(r.counts.other_rows, 0u);
}

TEST(RowMerge, EmptyBatchesInTheMiddleDoNotEndTheStream) {
    const MergeResult r = merge({rows({1}), {}, {}, rows({2, 3})}, {{}, rows({1, 2}), {}, rows({3})});
    EXPECT_EQ(r.counts.differences(), 0u);
    EXPECT_EQ(r.counts.base_rows, 3u);
    EXPECT_EQ(r.counts.other_rows, 3u);
}

TEST(RowMerge, RowsOnlyInTheBaseAreTargetMissing) {
    const MergeResult r = merge({rows({1, 2, 3}), rows({4, 5})}, {rows({1, 3}), rows({5})});
    EXPECT_EQ(r.counts.target_missing, 2u);
    EXPECT_EQ(r.counts.base_missing, 0u);
    EXPECT_EQ(r.counts.neq, 0u);
    EXPECT_EQ(ids_of(r, EventType::target_missing), (std::vector<std::int64_t>{2, 4}));
    EXPECT_EQ(r.counts.base_rows, 5u);
    EXPECT_EQ(r.counts.other_rows, 3u);
}

TEST(RowMerge, AnEmptyOtherSideMakesEveryBaseRowTargetMissing) {
    const MergeResult r = merge({rows({1, 2}), rows({3})}, {});
    EXPECT_EQ(ids_of(r, EventType::target_missing), (std::vector<std::int64_t>{1, 2, 3}));
    EXPECT_EQ(r.counts.differences(), 3u);
}

TEST(RowMerge, RowsOnlyInTheOtherSideAreBaseMissing) {
    const MergeResult r = merge({rows({2, 4})}, {rows({1, 2, 3}), rows({4})});
    EXPECT_EQ(ids_of(r, EventType::base_missing), (std::vector<std::int64_t>{1, 3}));
    EXPECT_EQ(r.counts.base_missing, 2u);
    EXPECT_EQ(r.counts.target_missing, 0u);
}

TEST(RowMerge, RowsPastTheBasesLastKeyAreBaseMissing) {
    const MergeResult r = merge({rows({1, 2})}, {rows({1}), rows({2, 3}), {}, rows({4, 5})});
    EXPECT_EQ(ids_of(r, EventType::base_missing), (std::vector<std::int64_t>{3, 4, 5}));
    EXPECT_EQ(r.counts.other_rows, 5u);
    EXPECT_EQ(r.counts.base_rows, 2u);
}

TEST(RowMerge, AnEmptyBaseMakesEveryOtherRowBaseMissing) {
    const MergeResult r = merge({{}}, {rows({7, 8})});
    EXPECT_EQ(ids_of(r, EventType::base_missing), (std::vector<std::int64_t>{7, 8}));
}

TEST(RowMerge, DifferencesAreReportedInKeyOrder) {
    const MergeResult r =
        merge({{row(1, "a"), row(3, "a"), row(5, "x")}}, {{row(2, "a"), row(3, "b"), row(5, "x"), row(6, "a")}});
    ASSERT_EQ(r.differences.size(), 4u);
    EXPECT_EQ(r.differences[0].type, EventType::target_missing);
    EXPECT_EQ(r.differences[0].key.at(0).as_int(), 1);
    EXPECT_EQ(r.differences[1].type, EventType::base_missing);
    EXPECT_EQ(r.differences[1].key.at(0).as_int(), 2);
    EXPECT_EQ(r.differences[2].type, EventType::neq);
    EXPECT_EQ(r.differences[2].key.at(0).as_int(), 3);
    EXPECT_EQ(r.differences[3].type, EventType::base_missing);
    EXPECT_EQ(r.differences[3].key.at(0).as_int(), 6);
}

TEST(RowMerge, TheDifferenceCallbackGetsOnlyTheKey) {
    const MergeResult r = merge({{row(1, "a")}}, {{row(1, "b")}});
    ASSERT_EQ(r.differences.size(), 1u);
    EXPECT_EQ(r.differences[0].key.size(), 1u);
}

TEST(RowMerge, NullAndEmptyTextAreDifferent) {
    const MergeResult r = merge({{row(1, Value::null())}}, {{row(1, "")}});
    EXPECT_EQ(r.counts.neq, 1u);
    EXPECT_EQ(ids_of(r, EventType::neq), std::vector<std::int64_t>{1});
}

TEST(RowMerge, CaseAndTrailingSpacesAreDifferences) {
    const MergeResult r =
        merge({{row(1, "abc"), row(2, "abc"), row(3, "abc")}}, {{row(1, "ABC"), row(2, "abc "), row(3, "abc")}});
    EXPECT_EQ(ids_of(r, EventType::neq), (std::vector<std::int64_t>{1, 2}));
    EXPECT_EQ(r.counts.differences(), 2u);
}

TEST(RowMerge, EngineRepresentationsOfTheSameDataAreEqual) {
    const MergeResult r = merge({{row(1, Value::boolean(true)), row(2, Value::decimal("1.50"))}},
                                {{row(1, Value::integer(1)), row(2, Value::decimal("1.5"))}});
    EXPECT_EQ(r.counts.differences(), 0u);
}

TEST(RowMerge, ANonKeyDifferenceInAnyColumnIsNeq) {
    auto wide = [](std::int64_t id, const char* a, const char* b) {
        return Row{Value::integer(id), Value::text(a), Value::text(b)};
    };
    const MergeResult r = merge({{wide(1, "x", "y"), wide(2, "x", "y")}}, {{wide(1, "x", "y"), wide(2, "x", "z")}});
    EXPECT_EQ(ids_of(r, EventType::neq), std::vector<std::int64_t>{2});
}

// A neq says which columns differ, and hands both rows over (base first);
// the other types carry neither.
TEST(RowMerge, ANeqNamesTheColumnsThatDifferAndCarriesBothRows) {
    auto wide = [](std::int64_t id, const char* a, std::int64_t n, const char* c) {
        return Row{Value::integer(id), Value::text(a), Value::integer(n), Value::text(c)};
    };
    const MergeResult r = merge({{wide(1, "x", 1, "y"), wide(2, "x", 1, "y"), wide(3, "x", 1, "y")}},
                                {{wide(1, "x", 2, "y"), wide(2, "X", 1, "z")}});
    ASSERT_EQ(r.differences.size(), 3u);
    EXPECT_EQ(r.differences[0].columns, (std::vector<std::size_t>{2}));
    EXPECT_EQ(r.differences[0].base.at(2).as_int(), 1);
    EXPECT_EQ(r.differences[0].other.at(2).as_int(), 2);
    EXPECT_EQ(r.differences[1].columns, (std::vector<std::size_t>{1, 3}));
    EXPECT_EQ(r.differences[2].type, EventType::target_missing);
    EXPECT_TRUE(r.differences[2].columns.empty());
    EXPECT_TRUE(r.differences[2].base.empty());
}

TEST(RowMerge, CompositeKeysAreComparedColumnByColumn) {
    auto r3 = [](std::int64_t a, const char* b, const char* v) {
        return Row{Value::integer(a), Value::text(b), Value::text(v)};
    };
    const MergeResult r = merge({{r3(1, "a", "v"), r3(1, "b", "v")}, {r3(2, "a", "v")}},
                                {{r3(1, "a", "v"), r3(1, "c", "v")}, {r3(2, "a", "w")}}, 2);
    ASSERT_EQ(r.differences.size(), 3u);
    EXPECT_EQ(r.differences[0].type, EventType::target_missing);
    EXPECT_EQ(shown(r.differences[0].key), shown(Row{Value::integer(1), Value::text("b")}));
    EXPECT_EQ(r.differences[1].type, EventType::base_missing);
    EXPECT_EQ(shown(r.differences[1].key), shown(Row{Value::integer(1), Value::text("c")}));
    EXPECT_EQ(r.differences[2].type, EventType::neq);
    EXPECT_EQ(shown(r.differences[2].key), shown(Row{Value::integer(2), Value::text("a")}));
    EXPECT_EQ(r.counts.base_rows, 3u);
    EXPECT_EQ(r.counts.other_rows, 3u);
}

TEST(RowMerge, CompositeKeysSharingAPrefixAreDistinctRows) {
    auto r2 = [](std::int64_t a, std::int64_t b) { return Row{Value::integer(a), Value::integer(b)}; };
    const MergeResult r = merge({{r2(1, 1), r2(1, 2)}}, {{r2(1, 1), r2(1, 2)}}, 2);
    EXPECT_EQ(r.counts.differences(), 0u);
    const MergeResult shifted = merge({{r2(1, 1), r2(1, 2)}}, {{r2(1, 2), r2(1, 3)}}, 2);
    EXPECT_EQ(shifted.counts.target_missing, 1u);
    EXPECT_EQ(shifted.counts.base_missing, 1u);
    EXPECT_EQ(shifted.counts.neq, 0u);
}

TEST(RowMerge, TextKeysMergeInBinaryOrder) {
    auto t = [](const char* k) { return Row{Value::text(k), Value::text("v")}; };
    // 'B' (0x42) sorts before 'a' (0x61) byte-wise.
    const MergeResult r = merge({{t("B"), t("a")}}, {{t("B"), t("a"), t("b")}});
    EXPECT_EQ(r.counts.base_missing, 1u);
    EXPECT_EQ(r.counts.differences(), 1u);
}

Error merge_error(Batches base, Batches other, std::size_t key_size = 1) {
    try {
        merge(std::move(base), std::move(other), key_size);
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "merge accepted its input";
    return Error(Code::internal, "no error");
}

TEST(RowMerge, BaseRowsOutOfKeyOrderAreADataError) {
    const Error e = merge_error({rows({1, 3, 2})}, {rows({1, 2, 3})});
    EXPECT_EQ(e.code(), Code::data);
    EXPECT_NE(std::string(e.what()).find("key order"), std::string::npos) << e.what();
}

TEST(RowMerge, OtherRowsOutOfKeyOrderAreADataError) {
    EXPECT_EQ(merge_error({rows({1, 2, 3})}, {rows({1, 3, 2})}).code(), Code::data);
}

TEST(RowMerge, DisorderAcrossABatchBoundaryIsADataError) {
    EXPECT_EQ(merge_error({rows({1, 5}), rows({4, 6})}, {rows({1, 4, 5, 6})}).code(), Code::data);
}

TEST(RowMerge, ARepeatedKeyIsADataError) {
    EXPECT_EQ(merge_error({rows({1, 2}), rows({2, 3})}, {rows({1, 2, 3})}).code(), Code::data);
    EXPECT_EQ(merge_error({rows({1, 2, 3})}, {rows({1, 1, 2, 3})}).code(), Code::data);
}

TEST(RowMerge, DisorderAfterTheBaseEndedIsADataError) {
    EXPECT_EQ(merge_error({rows({1})}, {rows({1, 5, 3})}).code(), Code::data);
}

TEST(RowMerge, ASourceFailingPartWayPropagatesItsError) {
    VectorSource base({rows({1, 2}), rows({3, 4})});
    FailingSource other({rows({1, 2})});
    int seen = 0;
    try {
        merge_sorted(base, other, 1, [&](EventType, const Row&, const NeqDetail&) { ++seen; });
        FAIL() << "the failure was swallowed";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::server);
        EXPECT_TRUE(e.is_temporary());
        EXPECT_NE(std::string(e.what()).find("lost connection"), std::string::npos);
    }
    EXPECT_EQ(seen, 0);  // rows 3 and 4 were not reported missing on a short read
}

TEST(RowMerge, ABaseFailingPartWayPropagatesItsError) {
    FailingSource base({rows({1})});
    VectorSource other({rows({1, 2, 3})});
    int seen = 0;
    EXPECT_THROW(merge_sorted(base, other, 1, [&](EventType, const Row&, const NeqDetail&) { ++seen; }), Error);
    EXPECT_EQ(seen, 0);
}

// Rows of `rs` whose key is past `after` (all when none): what a merge that
// goes on after a failure reads.
std::vector<Row> past(const std::vector<Row>& rs, const std::optional<Row>& after) {
    std::vector<Row> out;
    for (const auto& r : rs)
        if (!after || compare_key_prefix(r, *after, 1) > 0) out.push_back(r);
    return out;
}

TEST(RowMerge, AMergeAFailureEndedGoesOnFromItsProgressWithoutRepeatingOrMissingAKey) {
    // base 1..12 without 4 and 9; other 1..13 without 7, with 2 and 11 different.
    std::vector<Row> base_rows, other_rows;
    for (std::int64_t id = 1; id <= 12; ++id)
        if (id != 4 && id != 9) base_rows.push_back(row(id, "x"));
    for (std::int64_t id = 1; id <= 13; ++id)
        if (id != 7) other_rows.push_back(row(id, id == 2 || id == 11 ? "y" : "x"));
    const MergeResult whole = merge({base_rows}, {other_rows});

    // The other side fails after its first 5 rows: a lost connection.
    for (std::size_t cut : {1u, 3u, 5u, 8u}) {
        std::vector<Row> first(other_rows.begin(), other_rows.begin() + static_cast<std::ptrdiff_t>(cut));
        VectorSource b({base_rows});
        FailingSource o({first});
        std::vector<Difference> seen;
        MergeProgress progress;
        EXPECT_THROW(merge_sorted(
                         b, o, 1,
                         [&](EventType t, const Row& k, const NeqDetail&) {
                             seen.push_back({t, k});
                         },
                         &progress),
                     Error);
        // Every decided key's difference was reported, none past it.
        for (const auto& d : seen) EXPECT_LE(compare_key_prefix(d.key, *progress.decided, 1), 0);
        const MergeResult rest = merge({past(base_rows, progress.decided)}, {past(other_rows, progress.decided)});
        for (const auto& d : rest.differences) seen.push_back(d);
        MergeCounts total = progress.counts;
        total += rest.counts;
        EXPECT_EQ(total.base_rows, whole.counts.base_rows) << "cut " << cut;
        EXPECT_EQ(total.other_rows, whole.counts.other_rows) << "cut " << cut;
        EXPECT_EQ(total.target_missing, whole.counts.target_missing) << "cut " << cut;
        EXPECT_EQ(total.neq, whole.counts.neq) << "cut " << cut;
        EXPECT_EQ(total.base_missing, whole.counts.base_missing) << "cut " << cut;
        ASSERT_EQ(seen.size(), whole.differences.size()) << "cut " << cut;
        for (std::size_t i = 0; i < seen.size(); ++i) {
            EXPECT_EQ(seen[i].type, whole.differences[i].type);
            EXPECT_EQ(shown(seen[i].key), shown(whole.differences[i].key));
        }
    }
}

TEST(RowMerge, AReportThatFailsLeavesItsKeyUndecidedAndUncounted) {
    VectorSource b({{row(1, "x"), row(2, "x"), row(3, "x")}});
    VectorSource o({{row(1, "x"), row(3, "x")}});
    MergeProgress progress;
    EXPECT_THROW(merge_sorted(
                     b, o, 1,
                     [&](EventType, const Row&, const NeqDetail&) {
                         throw Error(Code::connection, "sink down", Temporary::yes);
                     },
                     &progress),
                 Error);
    ASSERT_TRUE(progress.decided);
    EXPECT_EQ(progress.decided->at(0).as_int(), 1);
    EXPECT_EQ(progress.counts.target_missing, 0u) << "key 2's report failed: it is reported again on resume";
    EXPECT_EQ(progress.counts.base_rows, 1u);
}

TEST(RowMerge, ProgressIsReportedWhileItRunsAndIsExactAtTheEnd) {
    Batches batches(10);  // of 1000 rows
    for (std::int64_t id = 1; id <= 10000; ++id)
        batches[static_cast<std::size_t>((id - 1) / 1000)].push_back(row(id, "x"));
    VectorSource b(batches), o(batches);
    MergeProgress progress;
    int calls = 0;
    merge_sorted(
        b, o, 1, [](EventType, const Row&, const NeqDetail&) {}, &progress,
        [&](const MergeProgress& p) {
            ++calls;
            EXPECT_EQ(p.counts.base_rows, p.counts.other_rows);
            EXPECT_EQ(static_cast<std::uint64_t>(p.decided->at(0).as_int()), p.counts.base_rows);
        });
    EXPECT_GE(calls, 10) << "once per batch";
    EXPECT_EQ(progress.counts.base_rows, 10000u);
    EXPECT_EQ(progress.decided->at(0).as_int(), 10000);
}

TEST(RowMerge, CountsAddUp) {
    MergeCounts a{.base_rows = 1, .other_rows = 2, .target_missing = 3, .neq = 4, .base_missing = 5};
    const MergeCounts b{.base_rows = 10, .other_rows = 20, .target_missing = 30, .neq = 40, .base_missing = 50};
    a += b;
    EXPECT_EQ(a.base_rows, 11u);
    EXPECT_EQ(a.other_rows, 22u);
    EXPECT_EQ(a.target_missing, 33u);
    EXPECT_EQ(a.neq, 44u);
    EXPECT_EQ(a.base_missing, 55u);
    EXPECT_EQ(a.differences(), 33u + 44u + 55u);
}

TEST(RowMerge, CompareKeyPrefixLooksOnlyAtTheKey) {
    const Row a{Value::integer(1), Value::text("x")};
    const Row b{Value::integer(1), Value::text("y")};
    EXPECT_EQ(compare_key_prefix(a, b, 1), 0);
    EXPECT_LT(compare_key_prefix(a, b, 2), 0);
    EXPECT_GT(compare_key_prefix(b, a, 2), 0);
}

// -- Prefetcher -------------------------------------------------------------

Batches numbered_batches(int count) {
    Batches out;
    for (int i = 0; i < count; ++i) out.push_back(rows({2 * i + 1, 2 * i + 2}));
    return out;
}

TEST(Prefetcher, DeliversEveryBatchInOrderThenEnds) {
    const Batches expected = numbered_batches(25);
    VectorSource source(expected);
    Prefetcher prefetcher(source, 3);
    Batches got;
    std::vector<Row> batch;
    while (prefetcher.next(batch)) got.push_back(batch);
    ASSERT_EQ(got.size(), expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(shown(got[i]), shown(expected[i])) << "batch " << i;
    batch = rows({99});
    EXPECT_FALSE(prefetcher.next(batch));
    EXPECT_TRUE(batch.empty());
}

TEST(Prefetcher, DeliversEmptyBatchesAsBatches) {
    VectorSource source({rows({1}), {}, rows({2})});
    Prefetcher prefetcher(source);
    std::vector<Row> batch;
    ASSERT_TRUE(prefetcher.next(batch));
    EXPECT_EQ(batch.size(), 1u);
    ASSERT_TRUE(prefetcher.next(batch));
    EXPECT_TRUE(batch.empty());
    ASSERT_TRUE(prefetcher.next(batch));
    EXPECT_EQ(batch.size(), 1u);
    EXPECT_FALSE(prefetcher.next(batch));
}

// Counts the batches that arrive holding a consumed batch's rows: a source
// reading into them reuses their storage instead of allocating per row.
class RecyclingProbe final : public BatchSource {
public:
    explicit RecyclingProbe(int batches) : m_left(batches) {}

    bool next(std::vector<Row>& out) override {
        if (!out.empty()) ++recycled;
        if (m_left-- <= 0) {
            out.clear();
            return false;
        }
        out.assign(100, Row{Value::integer(m_left), Value::text("a value")});  // overwrites in place
        return true;
    }

    std::atomic<int> recycled{0};

private:
    int m_left;
};

TEST(Prefetcher, HandsConsumedBatchesBackToTheSourceForReuse) {
    RecyclingProbe source(50);
    {
        Prefetcher prefetcher(source, 2);
        std::vector<Row> batch;
        int delivered = 0;
        while (prefetcher.next(batch)) {
            ASSERT_EQ(batch.size(), 100u);
            EXPECT_EQ(batch[0][0].as_int(), 49 - delivered);  // fresh content, not the recycled rows
            ++delivered;
        }
        EXPECT_EQ(delivered, 50);
    }
    // All but the first few reads (before the caller handed any back) reuse one.
    EXPECT_GE(source.recycled.load(), 40);
}

TEST(Prefetcher, RethrowsTheSourcesErrorAfterTheBatchesReadBeforeIt) {
    FailingSource source(numbered_batches(2));
    Prefetcher prefetcher(source);
    std::vector<Row> batch;
    ASSERT_TRUE(prefetcher.next(batch));
    EXPECT_EQ(shown(batch), shown(numbered_batches(1)[0]));
    ASSERT_TRUE(prefetcher.next(batch));
    try {
        prefetcher.next(batch);
        FAIL() << "the source's error was not rethrown";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::server);
        EXPECT_TRUE(e.is_temporary());
    }
}

TEST(Prefetcher, AnErrorOnTheFirstReadIsRethrown) {
    FailingSource source({});
    Prefetcher prefetcher(source);
    std::vector<Row> batch;
    EXPECT_THROW(prefetcher.next(batch), Error);
}

TEST(Prefetcher, ReadsAtMostDepthBatchesAhead) {
    EndlessSource source;
    Prefetcher prefetcher(source, 2);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_LE(source.calls(), 2);
    std::vector<Row> batch;
    ASSERT_TRUE(prefetcher.next(batch));
    EXPECT_EQ(batch.at(0).at(0).as_int(), 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_LE(source.calls(), 3);
}

TEST(Prefetcher, WorksAsAMergeInput) {
    VectorSource base_inner({rows({1, 2}), rows({3, 4})});
    VectorSource other_inner({rows({1}), rows({2, 4, 5})});
    Prefetcher base(base_inner), other(other_inner);
    MergeCounts c = merge_sorted(base, other, 1, [](EventType, const Row&, const NeqDetail&) {});
    EXPECT_EQ(c.target_missing, 1u);
    EXPECT_EQ(c.base_missing, 1u);
    EXPECT_EQ(c.base_rows, 4u);
    EXPECT_EQ(c.other_rows, 4u);
}

TEST(Prefetcher, DestroyingItBeforeTheEndDoesNotHang) {
    auto source = std::make_shared<EndlessSource>();
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> finished = done->get_future();
    std::thread worker([source, done] {
        {
            Prefetcher prefetcher(*source, 2);
            std::vector<Row> batch;
            prefetcher.next(batch);
        }
        {
            Prefetcher untouched(*source, 4);  // never read from
        }
        done->set_value();
    });
    if (finished.wait_for(std::chrono::seconds(10)) == std::future_status::ready) {
        worker.join();
    } else {
        worker.detach();
        FAIL() << "destroying a Prefetcher hung";
    }
}

}  // namespace
}  // namespace webook
