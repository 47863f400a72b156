#include "core/shard.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/db.h"
#include "core/dialect.h"
#include "core/error.h"

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
    for (const auto& v : params)
        out.push_back(std::string(kind_name(v.kind())) + ":" + v.display());
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
    std::unique_ptr<BulkWriter> bulk_insert(std::string_view,
                                            const std::vector<std::string>&) override {
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
            if (m_done)
                return false;
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
    for (const char* bad : {"0/8", "9/8", "a/b", "3", "", "/8", "2/", "2/0", "-1/8", "2/8x", " 2/8",
                            "2/-8", "1/2/3"}) {
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

TEST(ShardFilter, AClosedRangeBoundsBothEnds) {
    const ShardFilter f = shard_filter(pg(), id_side(), {.after = 100, .up_to = 200});
    EXPECT_EQ(f.sql, "\"id\" > $1 AND \"id\" <= $2");
    EXPECT_EQ(shown(f.params), (std::vector<std::string>{"integer:100", "integer:200"}));
    const ShardFilter m = shard_filter(mysql(), id_side(), {.after = 100, .up_to = 200});
    EXPECT_EQ(m.sql, "`id` > ? AND `id` <= ?");
    EXPECT_EQ(shown(m.params), (std::vector<std::string>{"integer:100", "integer:200"}));
}

TEST(ShardFilter, TheFirstShardIsOpenBelow) {
    ShardRange range;
    range.up_to = 200;
    const ShardFilter f = shard_filter(pg(), id_side(), range);
    EXPECT_EQ(f.sql, "\"id\" <= $1");
    EXPECT_EQ(shown(f.params), (std::vector<std::string>{"integer:200"}));
}

TEST(ShardFilter, TheLastShardIsOpenAbove) {
    ShardRange range;
    range.after = -5;
    const ShardFilter f = shard_filter(mysql(), id_side(), range);
    EXPECT_EQ(f.sql, "`id` > ?");
    EXPECT_EQ(shown(f.params), (std::vector<std::string>{"integer:-5"}));
}

TEST(ShardFilter, AnOpenRangeHasNoCondition) {
    const ShardFilter f = shard_filter(pg(), id_side(), {});
    EXPECT_EQ(f.sql, "");
    EXPECT_TRUE(f.params.empty());
}

TEST(ShardRange, TheWholeTableNeedsNoQuery) {
    SpanConnection src(Engine::mysql, std::pair{1, 100}), dst(Engine::postgres, std::pair{1, 100});
    const ShardRange r = shard_range({src, dst}, plan(), Shard{});
    EXPECT_FALSE(r.after);
    EXPECT_FALSE(r.up_to);
    EXPECT_TRUE(src.queries().empty());
}

TEST(ShardRange, CutsTheSpanIntoEqualRangesWithOpenEnds) {
    SpanConnection src(Engine::mysql, std::pair{1, 100}), dst(Engine::postgres, std::pair{1, 100});
    const ShardRange first = shard_range({src, dst}, plan(), Shard::parse("1/4"));
    EXPECT_FALSE(first.after);
    EXPECT_EQ(first.up_to, 25);
    const ShardRange second = shard_range({src, dst}, plan(), Shard::parse("2/4"));
    EXPECT_EQ(second.after, 25);
    EXPECT_EQ(second.up_to, 50);
    const ShardRange last = shard_range({src, dst}, plan(), Shard::parse("4/4"));
    EXPECT_EQ(last.after, 75);
    EXPECT_FALSE(last.up_to);
}

TEST(ShardRange, AdjacentShardsMeetWithoutGapOrOverlap) {
    SpanConnection src(Engine::mysql, std::pair{-17, 1003}),
        dst(Engine::postgres, std::pair{5, 2000});
    const int n = 7;
    std::optional<std::int64_t> previous_up_to;
    for (int i = 1; i <= n; ++i) {
        const ShardRange r = shard_range({src, dst}, plan(), Shard{.index = i, .count = n});
        if (i == 1)
            EXPECT_FALSE(r.after);
        else
            EXPECT_EQ(r.after, previous_up_to) << "shard " << i;
        if (i == n)
            EXPECT_FALSE(r.up_to);
        else
            ASSERT_TRUE(r.up_to) << "shard " << i;
        previous_up_to = r.up_to;
    }
}

TEST(ShardRange, UsesTheSpanOfBothSides) {
    SpanConnection src(Engine::mysql, std::pair{1, 50}), dst(Engine::postgres, std::pair{51, 100});
    const ShardRange r = shard_range({src, dst}, plan(), Shard::parse("1/2"));
    EXPECT_EQ(r.up_to, 50);
    ASSERT_EQ(src.queries().size(), 1u);
    ASSERT_EQ(dst.queries().size(), 1u);
    EXPECT_EQ(src.queries()[0], "SELECT MIN(`id`), MAX(`id`) FROM `items`");
    EXPECT_EQ(dst.queries()[0], "SELECT MIN(\"id\"), MAX(\"id\") FROM \"items_v2\"");
}

TEST(ShardRange, AnEmptySideDoesNotCount) {
    SpanConnection src(Engine::mysql, std::nullopt), dst(Engine::postgres, std::pair{101, 200});
    const ShardRange r = shard_range({src, dst}, plan(), Shard::parse("2/2"));
    EXPECT_EQ(r.after, 150);
}

TEST(ShardRange, TwoEmptySidesMakeEveryShardTheWholeTable) {
    SpanConnection src(Engine::mysql, std::nullopt), dst(Engine::postgres, std::nullopt);
    const ShardRange r = shard_range({src, dst}, plan(), Shard::parse("3/4"));
    EXPECT_FALSE(r.after);
    EXPECT_FALSE(r.up_to);
}

TEST(ShardRange, ANonIntegerFirstKeyIsAUsageError) {
    SpanConnection src(Engine::mysql, std::pair{1, 2}), dst(Engine::postgres, std::pair{1, 2});
    try {
        shard_range({src, dst}, plan(ValueKind::text), Shard::parse("1/2"));
        FAIL() << "a text key was sharded";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::usage);
    }
}

}  // namespace
}  // namespace webook
