#include "core/migration/shard.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"

namespace webook {
namespace {

const Dialect& mysql() {
    return dialect_for(Engine::mysql);
}
const Dialect& pg() {
    return dialect_for(Engine::postgres);
}

std::vector<std::string> shown(const std::vector<Value>& params) {
    std::vector<std::string> out;
    for (const auto& v : params) out.push_back(std::string(kind_name(v.kind())) + ":" + v.display());
    return out;
}

SidePlan id_side(const std::string& table = "items", ValueKind kind = ValueKind::integer) {
    SidePlan s;
    s.table = table;
    s.columns = {"id", "v"};
    s.kinds = {kind, ValueKind::text};
    s.key = {"id"};
    s.decimal_scales = {-1, -1};
    s.binary_collation = {false, false};
    return s;
}

// Answers SELECT MIN(key), MAX(key) with a fixed span (or NULLs: empty table).
class SpanConnection final : public Connection {
public:
    SpanConnection(Engine engine, std::optional<std::pair<std::int64_t, std::int64_t>> span)
        : m_engine(engine), m_span(span) {}

    const Dialect& dialect() const override { return dialect_for(m_engine); }
    const std::string& describe() const override { return m_name; }
    ExecResult execute(std::string_view, Params) override { return {}; }
    std::unique_ptr<RowCursor> stream(std::string_view sql, Params) override {
        m_queries.emplace_back(sql);
        Row r = m_span ? Row{Value::integer(m_span->first), Value::integer(m_span->second)}
                       : Row{Value::null(), Value::null()};
        return std::make_unique<OneRow>(std::move(r));
    }
    void begin() override {}
    void commit() override {}
    void rollback() override {}
    std::vector<ColumnInfo> columns(std::string_view) override { return {}; }
    std::unique_ptr<BulkWriter> bulk_insert(std::string_view, const std::vector<std::string>&) override {
        return nullptr;
    }

    const std::vector<std::string>& queries() const { return m_queries; }

private:
    class OneRow final : public RowCursor {
    public:
        explicit OneRow(Row r) : m_row(std::move(r)) {}
        const std::vector<std::string>& column_names() const override { return m_names; }
        const std::vector<ValueKind>& column_kinds() const override { return m_kinds; }
        bool next_batch(std::vector<Row>& out, std::size_t) override {
            out.clear();
            if (m_done) return false;
            m_done = true;
            out.push_back(m_row);
            return true;
        }

    private:
        Row m_row;
        bool m_done = false;
        std::vector<std::string> m_names{"min", "max"};
        std::vector<ValueKind> m_kinds{ValueKind::integer, ValueKind::integer};
    };

    Engine m_engine;
    std::optional<std::pair<std::int64_t, std::int64_t>> m_span;
    std::vector<std::string> m_queries;
    std::string m_name = "fake://test";
};

TablePlan plan(ValueKind kind = ValueKind::integer) {
    TablePlan p;
    p.name = "items";
    p.source = id_side("items", kind);
    p.target = id_side("items_v2", kind);
    return p;
}

TEST(Shard, ParsesIndexAndCount) {
    const Shard s = Shard::parse("2/8");
    EXPECT_EQ(s.index, 2);
    EXPECT_EQ(s.count, 8);
    EXPECT_FALSE(s.whole());
    EXPECT_EQ(s.str(), "2/8");
}

TEST(Shard, TheFirstAndLastShardsAreValid) {
    EXPECT_EQ(Shard::parse("1/8").index, 1);
    EXPECT_EQ(Shard::parse("8/8").index, 8);
}

TEST(Shard, OneOfOneIsTheWholeTable) {
    const Shard s = Shard::parse("1/1");
    EXPECT_TRUE(s.whole());
    EXPECT_EQ(s.str(), "all");
    EXPECT_TRUE(Shard{}.whole());
    EXPECT_EQ(Shard{}.str(), "all");
}

TEST(Shard, RejectsMalformedShardsAsUsageErrors) {
    for (const char* bad : {"0/8", "9/8", "a/b", "3", "", "/8", "2/", "2/0", "-1/8", "2/8x", " 2/8", "2/-8", "1/2/3"}) {
        SCOPED_TRACE(bad);
        try {
            Shard::parse(bad);
            ADD_FAILURE() << "accepted";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Code::usage);
            EXPECT_NE(std::string(e.what()).find("--shard"), std::string::npos) << e.what();
        }
    }
}

Row key(std::int64_t v) {
    return Row{Value::integer(v)};
}

TEST(ShardFilter, AClosedRangeBoundsBothEnds) {
    const ShardFilter f = shard_filter(pg(), id_side(), {.after = key(100), .up_to = key(200)});
    EXPECT_EQ(f.sql, "\"id\" > $1 AND \"id\" <= $2");
    EXPECT_EQ(shown(f.params), (std::vector<std::string>{"integer:100", "integer:200"}));
    const ShardFilter m = shard_filter(mysql(), id_side(), {.after = key(100), .up_to = key(200)});
    EXPECT_EQ(m.sql, "`id` > ? AND `id` <= ?");
    EXPECT_EQ(shown(m.params), (std::vector<std::string>{"integer:100", "integer:200"}));
}

TEST(ShardFilter, TheFirstShardIsOpenBelow) {
    ShardRange range;
    range.up_to = key(200);
    const ShardFilter f = shard_filter(pg(), id_side(), range);
    EXPECT_EQ(f.sql, "\"id\" <= $1");
    EXPECT_EQ(shown(f.params), (std::vector<std::string>{"integer:200"}));
}

TEST(ShardFilter, TheLastShardIsOpenAbove) {
    ShardRange range;
    range.after = key(-5);
    const ShardFilter f = shard_filter(mysql(), id_side(), range);
    EXPECT_EQ(f.sql, "`id` > ?");
    EXPECT_EQ(shown(f.params), (std::vector<std::string>{"integer:-5"}));
}

TEST(ShardFilter, AnOpenRangeHasNoCondition) {
    const ShardFilter f = shard_filter(pg(), id_side(), {});
    EXPECT_EQ(f.sql, "");
    EXPECT_TRUE(f.params.empty());
}

TEST(ShardFilter, AnEmptyShardSelectsNothing) {
    const ShardFilter f = shard_filter(pg(), id_side(), {.none = true});
    EXPECT_EQ(f.sql, "1 = 0");
    EXPECT_TRUE(f.params.empty());
}

// A composite text key is bounded as a tuple in byte order, and the
// placeholders continue after parameters already there.
TEST(ShardFilter, CompositeTextKeysAreBoundedAsByteOrderedTuples) {
    SidePlan side;
    side.table = "t";
    side.columns = {"k", "n", "v"};
    side.kinds = {ValueKind::text, ValueKind::integer, ValueKind::text};
    side.key = {"k", "n"};
    side.decimal_scales = {-1, -1, -1};
    side.binary_collation = {false, false, false};
    const ShardRange range{.after = Row{Value::text("b"), Value::integer(2)},
                           .up_to = Row{Value::text("m"), Value::integer(7)}};
    std::vector<Value> params{Value::integer(0)};
    EXPECT_EQ(shard_condition(pg(), side, range, params),
              "(\"k\" COLLATE \"C\", \"n\") > ($2, $3) AND (\"k\" COLLATE \"C\", \"n\") <= ($4, $5)");
    EXPECT_EQ(shown(params), (std::vector<std::string>{"integer:0", "text:b", "integer:2", "text:m", "integer:7"}));
    params.clear();
    EXPECT_EQ(shard_condition(mysql(), side, {.up_to = Row{Value::text("m"), Value::integer(7)}}, params),
              "((CAST(`k` AS BINARY) < ?) OR (CAST(`k` AS BINARY) = ? AND `n` <= ?))");
}

std::string bound(const std::optional<Row>& k) {
    return k ? k->at(0).display() : "open";
}

std::vector<std::string> shown_keys(const std::vector<Row>& keys) {
    std::vector<std::string> out;
    for (const Row& k : keys) out.push_back(k.at(0).display());
    return out;
}

TEST(ShardBoundaries, AnIntegerKeySpanIsCutIntoEqualRanges) {
    SpanConnection src(Engine::mysql, std::pair{1, 100}), dst(Engine::postgres, std::pair{1, 100});
    EXPECT_EQ(shown_keys(compute_shard_boundaries({src, dst}, plan(), 4)),
              (std::vector<std::string>{"25", "50", "75"}));
}

TEST(ShardBoundaries, UseTheSpanOfBothSides) {
    SpanConnection src(Engine::mysql, std::pair{1, 50}), dst(Engine::postgres, std::pair{51, 100});
    EXPECT_EQ(shown_keys(compute_shard_boundaries({src, dst}, plan(), 2)), (std::vector<std::string>{"50"}));
    ASSERT_EQ(src.queries().size(), 1u);
    ASSERT_EQ(dst.queries().size(), 1u);
    EXPECT_EQ(src.queries()[0], "SELECT MIN(`id`), MAX(`id`) FROM `items`");
    EXPECT_EQ(dst.queries()[0], "SELECT MIN(\"id\"), MAX(\"id\") FROM \"items_v2\"");
}

TEST(ShardBoundaries, AnEmptySideDoesNotCount) {
    SpanConnection src(Engine::mysql, std::nullopt), dst(Engine::postgres, std::pair{101, 200});
    EXPECT_EQ(shown_keys(compute_shard_boundaries({src, dst}, plan(), 2)), (std::vector<std::string>{"150"}));
}

TEST(ShardBoundaries, TwoEmptySidesHaveNone) {
    SpanConnection src(Engine::mysql, std::nullopt), dst(Engine::postgres, std::nullopt);
    EXPECT_TRUE(compute_shard_boundaries({src, dst}, plan(), 4).empty());
}

TEST(ShardBoundaries, FewerKeysThanShardsLeaveTheLastShardsEmpty) {
    SpanConnection src(Engine::mysql, std::pair{1, 3}), dst(Engine::postgres, std::pair{1, 3});
    const auto b = compute_shard_boundaries({src, dst}, plan(), 8);
    EXPECT_EQ(shown_keys(b), (std::vector<std::string>{"1", "2"}));
    EXPECT_TRUE(shard_of(b, Shard{.index = 4, .count = 8}).none);
    EXPECT_FALSE(shard_of(b, Shard{.index = 3, .count = 8}).none);
}

// Answers SELECT COUNT(*) with the number of keys, and the key query with
// the keys (already in order, as the server sends them).
class KeysConnection final : public Connection {
public:
    explicit KeysConnection(std::vector<Row> keys) : m_keys(std::move(keys)) {}

    const Dialect& dialect() const override { return dialect_for(Engine::postgres); }
    const std::string& describe() const override { return m_name; }
    ExecResult execute(std::string_view, Params) override { return {}; }
    std::unique_ptr<RowCursor> stream(std::string_view sql, Params) override {
        m_queries.emplace_back(sql);
        if (sql.starts_with("SELECT COUNT(*)"))
            return std::make_unique<Rows>(std::vector<Row>{{Value::integer(static_cast<std::int64_t>(m_keys.size()))}});
        return std::make_unique<Rows>(m_keys);
    }
    void begin() override {}
    void commit() override {}
    void rollback() override {}
    std::vector<ColumnInfo> columns(std::string_view) override { return {}; }
    std::unique_ptr<BulkWriter> bulk_insert(std::string_view, const std::vector<std::string>&) override {
        return nullptr;
    }

    std::vector<std::string> m_queries;

private:
    class Rows final : public RowCursor {
    public:
        explicit Rows(std::vector<Row> rows) : m_rows(std::move(rows)) {}
        const std::vector<std::string>& column_names() const override { return m_names; }
        const std::vector<ValueKind>& column_kinds() const override { return m_kinds; }
        bool next_batch(std::vector<Row>& out, std::size_t max_rows) override {
            out.clear();
            while (m_pos < m_rows.size() && out.size() < max_rows) out.push_back(m_rows[m_pos++]);
            return !out.empty();
        }

    private:
        std::vector<Row> m_rows;
        std::size_t m_pos = 0;
        std::vector<std::string> m_names;
        std::vector<ValueKind> m_kinds;
    };

    std::vector<Row> m_keys;
    std::string m_name = "fake://keys";
};

TEST(ShardBoundaries, OtherKeysAreCutAtEveryNthSourceKey) {
    std::vector<Row> keys;
    for (char c = 'a'; c <= 'j'; ++c) keys.push_back({Value::text(std::string(1, c))});  // 10 keys
    KeysConnection src(keys), dst({});
    const auto b = compute_shard_boundaries({src, dst}, plan(ValueKind::text), 3);
    EXPECT_EQ(shown_keys(b), (std::vector<std::string>{"d", "h"}));  // 4 + 4 + 2 rows
    ASSERT_EQ(src.m_queries.size(), 2u);
    EXPECT_EQ(src.m_queries[1], "SELECT \"id\" FROM \"items\" ORDER BY \"id\" COLLATE \"C\"");
    EXPECT_TRUE(dst.m_queries.empty());  // the source alone decides
}

TEST(ShardBoundaries, AsManyShardsAsKeysPutOneKeyInEach) {
    KeysConnection src({{Value::text("x")}, {Value::text("y")}, {Value::text("z")}}), dst({});
    EXPECT_EQ(shown_keys(compute_shard_boundaries({src, dst}, plan(ValueKind::text), 3)),
              (std::vector<std::string>{"x", "y"}));
}

TEST(ShardOf, AdjacentShardsMeetWithoutGapOrOverlapAndTheEndsAreOpen) {
    const std::vector<Row> b{key(10), key(20), key(30)};
    const ShardRange first = shard_of(b, Shard::parse("1/4"));
    EXPECT_FALSE(first.after);
    EXPECT_EQ(bound(first.up_to), "10");
    const ShardRange second = shard_of(b, Shard::parse("2/4"));
    EXPECT_EQ(bound(second.after), "10");
    EXPECT_EQ(bound(second.up_to), "20");
    const ShardRange last = shard_of(b, Shard::parse("4/4"));
    EXPECT_EQ(bound(last.after), "30");
    EXPECT_FALSE(last.up_to);
    for (const char* s : {"1/4", "2/4", "3/4", "4/4"}) EXPECT_FALSE(shard_of(b, Shard::parse(s)).none) << s;
}

TEST(ShardOf, AnEmptyTableIsAllInTheFirstShard) {
    const ShardRange first = shard_of({}, Shard::parse("1/3"));
    EXPECT_FALSE(first.none);
    EXPECT_FALSE(first.after);
    EXPECT_FALSE(first.up_to);
    EXPECT_TRUE(shard_of({}, Shard::parse("2/3")).none);
    EXPECT_TRUE(shard_of({}, Shard::parse("3/3")).none);
}

TEST(ShardOf, TheWholeTableIsUnbounded) {
    const ShardRange r = shard_of({key(5)}, Shard{});
    EXPECT_FALSE(r.after);
    EXPECT_FALSE(r.up_to);
    EXPECT_FALSE(r.none);
}

}  // namespace
}  // namespace webook
