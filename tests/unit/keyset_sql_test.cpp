// The SQL text of keyset pagination and key lookups, on hand-built plans.
#include "core/migration/keyset.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/db/dialect.h"

namespace webook {
namespace {

const Dialect& mysql() {
    return dialect_for(Engine::mysql);
}
const Dialect& pg() {
    return dialect_for(Engine::postgres);
}

// A side with key columns `key` (of `key_kinds`) followed by a text column "v".
SidePlan side(std::vector<std::string> key, std::vector<ValueKind> key_kinds, bool binary_collation = false) {
    SidePlan s;
    s.table = "items";
    s.key = key;
    s.columns = key;
    s.columns.push_back("v");
    s.kinds = key_kinds;
    s.kinds.push_back(ValueKind::text);
    s.decimal_scales.assign(s.columns.size(), -1);
    s.binary_collation.assign(s.columns.size(), binary_collation);
    return s;
}

SidePlan int_key() {
    return side({"id"}, {ValueKind::integer});
}
SidePlan pair_key() {
    return side({"a", "b"}, {ValueKind::integer, ValueKind::integer});
}
SidePlan text_key(bool binary_collation = false) {
    return side({"name"}, {ValueKind::text}, binary_collation);
}

// Parameters as "kind:value" text, so gtest can compare and print them.
std::vector<std::string> shown(const std::vector<Value>& params) {
    std::vector<std::string> out;
    for (const auto& v : params) out.push_back(std::string(kind_name(v.kind())) + ":" + v.display());
    return out;
}

KeyBounds after(Row key) {
    KeyBounds b;
    b.after = std::move(key);
    return b;
}

KeyBounds up_to(Row key) {
    KeyBounds b;
    b.up_to = std::move(key);
    return b;
}

KeyBounds between(Row low, Row high) {
    KeyBounds b;
    b.after = std::move(low);
    b.up_to = std::move(high);
    return b;
}

Row ints(std::initializer_list<std::int64_t> values) {
    Row r;
    for (auto v : values) r.push_back(Value::integer(v));
    return r;
}

TEST(KeysetSql, SingleIntegerKeyOnPostgres) {
    const BoundSql q = keyset_query(pg(), int_key(), after(ints({41})), 100);
    EXPECT_EQ(q.sql, "SELECT \"id\", \"v\" FROM \"items\" WHERE \"id\" > $1 ORDER BY \"id\" LIMIT 100");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:41"}));
}

TEST(KeysetSql, SingleIntegerKeyOnMysql) {
    const BoundSql q = keyset_query(mysql(), int_key(), after(ints({41})), 100);
    EXPECT_EQ(q.sql, "SELECT `id`, `v` FROM `items` WHERE `id` > ? ORDER BY `id` LIMIT 100");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:41"}));
}

TEST(KeysetSql, TheFirstPageHasNoWhereClause) {
    const BoundSql q = keyset_query(pg(), int_key(), {}, 500);
    EXPECT_EQ(q.sql, "SELECT \"id\", \"v\" FROM \"items\" ORDER BY \"id\" LIMIT 500");
    EXPECT_TRUE(q.params.empty());
}

// One composition of a caller's filter with key bounds, for every reader
// (keyset pages, checksum chunks, copy's target clean-up): the filter is
// parenthesised so its OR cannot escape, and its parameters come first.
TEST(KeysetSql, AFilterAndKeyBoundsComposeOneWay) {
    std::vector<Value> params{Value::integer(7)};
    EXPECT_EQ(where_clause(pg(), int_key(), "\"v\" = $1 OR \"v\" IS NULL", between(ints({1}), ints({9})), params),
              " WHERE (\"v\" = $1 OR \"v\" IS NULL) AND \"id\" > $2 AND \"id\" <= $3");
    EXPECT_EQ(shown(params), (std::vector<std::string>{"integer:7", "integer:1", "integer:9"}));
    std::vector<Value> none;
    EXPECT_EQ(where_clause(mysql(), int_key(), "", after(ints({4})), none), " WHERE `id` > ?");
    EXPECT_EQ(where_clause(mysql(), int_key(), "`v` > 0", {}, none), " WHERE `v` > 0");
    EXPECT_EQ(where_clause(mysql(), int_key(), "", {}, none), "");
    const BoundSql q = keyset_query(pg(), int_key(), after(ints({3})), 5, false, "\"v\" < $1", {Value::integer(2)});
    EXPECT_EQ(q.sql, "SELECT \"id\", \"v\" FROM \"items\" WHERE (\"v\" < $1) AND \"id\" > $2 ORDER BY \"id\" LIMIT 5");
}

TEST(KeysetSql, KeysOnlySelectsJustTheKeyColumns) {
    const BoundSql q = keyset_query(mysql(), pair_key(), {}, 10, true);
    EXPECT_EQ(q.sql, "SELECT `a`, `b` FROM `items` ORDER BY `a`, `b` LIMIT 10");
}

TEST(KeysetSql, CompositeKeyUsesARowConstructorOnPostgres) {
    const BoundSql q = keyset_query(pg(), pair_key(), after(ints({1, 2})), 100);
    EXPECT_EQ(q.sql,
              "SELECT \"a\", \"b\", \"v\" FROM \"items\" WHERE (\"a\", \"b\") > ($1, $2) "
              "ORDER BY \"a\", \"b\" LIMIT 100");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:1", "integer:2"}));
}

TEST(KeysetSql, CompositeKeyIsExpandedOnMysqlWithParamsInPlaceholderOrder) {
    const BoundSql q = keyset_query(mysql(), pair_key(), after(ints({1, 2})), 100);
    EXPECT_EQ(q.sql,
              "SELECT `a`, `b`, `v` FROM `items` WHERE ((`a` > ?) OR (`a` = ? AND `b` > ?)) "
              "ORDER BY `a`, `b` LIMIT 100");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:1", "integer:1", "integer:2"}));
}

TEST(KeysetSql, ThreeColumnKeyOnMysqlRepeatsThePrefixOfEachTerm) {
    const SidePlan s = side({"a", "b", "c"}, {ValueKind::integer, ValueKind::integer, ValueKind::integer});
    std::vector<Value> params;
    const std::string where = bounds_condition(mysql(), s, after(ints({7, 8, 9})), params);
    EXPECT_EQ(where, "((`a` > ?) OR (`a` = ? AND `b` > ?) OR (`a` = ? AND `b` = ? AND `c` > ?))");
    EXPECT_EQ(shown(params),
              (std::vector<std::string>{"integer:7", "integer:7", "integer:8", "integer:7", "integer:8", "integer:9"}));
}

TEST(KeysetSql, CompositeUpperBoundIsInclusiveOnlyOnTheLastColumn) {
    std::vector<Value> params;
    EXPECT_EQ(bounds_condition(mysql(), pair_key(), up_to(ints({5, 6})), params),
              "((`a` < ?) OR (`a` = ? AND `b` <= ?))");
    EXPECT_EQ(shown(params), (std::vector<std::string>{"integer:5", "integer:5", "integer:6"}));
    params.clear();
    EXPECT_EQ(bounds_condition(pg(), pair_key(), up_to(ints({5, 6})), params), "(\"a\", \"b\") <= ($1, $2)");
}

TEST(KeysetSql, TextKeyWithoutBinaryCollationIsComparedAndOrderedByteWise) {
    const Row last{Value::text("m")};
    const BoundSql my = keyset_query(mysql(), text_key(), after(last), 50);
    EXPECT_EQ(my.sql,
              "SELECT `name`, `v` FROM `items` WHERE CAST(`name` AS BINARY) > ? "
              "ORDER BY CAST(`name` AS BINARY) LIMIT 50");
    const BoundSql p = keyset_query(pg(), text_key(), after(last), 50);
    EXPECT_EQ(p.sql,
              "SELECT \"name\", \"v\" FROM \"items\" WHERE \"name\" COLLATE \"C\" > $1 "
              "ORDER BY \"name\" COLLATE \"C\" LIMIT 50");
    EXPECT_EQ(shown(p.params), (std::vector<std::string>{"text:m"}));
}

TEST(KeysetSql, TextKeyWithBinaryCollationIsUsedAsIs) {
    const BoundSql q = keyset_query(mysql(), text_key(true), after(Row{Value::text("m")}), 50);
    EXPECT_EQ(q.sql, "SELECT `name`, `v` FROM `items` WHERE `name` > ? ORDER BY `name` LIMIT 50");
}

TEST(KeysetSql, OnlyTheTextColumnsOfACompositeKeyAreWrapped) {
    const SidePlan s = side({"biz", "biz_id"}, {ValueKind::text, ValueKind::integer});
    EXPECT_EQ(key_order(pg(), s), "\"biz\" COLLATE \"C\", \"biz_id\"");
    std::vector<Value> params;
    EXPECT_EQ(bounds_condition(pg(), s, after(Row{Value::text("x"), Value::integer(3)}), params),
              "(\"biz\" COLLATE \"C\", \"biz_id\") > ($1, $2)");
    params.clear();
    EXPECT_EQ(bounds_condition(mysql(), s, after(Row{Value::text("x"), Value::integer(3)}), params),
              "((CAST(`biz` AS BINARY) > ?) OR (CAST(`biz` AS BINARY) = ? AND `biz_id` > ?))");
}

TEST(KeysetSql, BytesKeysAreNotWrapped) {
    const SidePlan s = side({"hash"}, {ValueKind::bytes});
    EXPECT_EQ(key_order(mysql(), s), "`hash`");
}

TEST(KeysetSql, BothBoundsGiveAHalfOpenInterval) {
    const BoundSql q = keyset_query(pg(), int_key(), between(ints({10}), ints({20})), 100);
    EXPECT_EQ(q.sql,
              "SELECT \"id\", \"v\" FROM \"items\" WHERE \"id\" > $1 AND \"id\" <= $2 "
              "ORDER BY \"id\" LIMIT 100");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:10", "integer:20"}));
}

TEST(KeysetSql, OnlyAnUpperBound) {
    const BoundSql q = keyset_query(mysql(), int_key(), up_to(ints({20})), 100);
    EXPECT_EQ(q.sql, "SELECT `id`, `v` FROM `items` WHERE `id` <= ? ORDER BY `id` LIMIT 100");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:20"}));
}

TEST(KeysetSql, FilterParamsComeFirstAndBoundPlaceholdersContinueTheNumbering) {
    const BoundSql q = keyset_query(pg(), pair_key(), between(ints({1, 2}), ints({3, 4})), 100, false,
                                    "\"utime\" >= $1 AND \"utime\" < $2", {Value::integer(1000), Value::integer(2000)});
    EXPECT_EQ(q.sql,
              "SELECT \"a\", \"b\", \"v\" FROM \"items\" WHERE (\"utime\" >= $1 AND \"utime\" < $2) AND "
              "(\"a\", \"b\") > ($3, $4) AND (\"a\", \"b\") <= ($5, $6) ORDER BY \"a\", \"b\" LIMIT 100");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:1000", "integer:2000", "integer:1", "integer:2",
                                                         "integer:3", "integer:4"}));
}

TEST(KeysetSql, AFilterOnMysqlKeepsItsParamsFirst) {
    const BoundSql q =
        keyset_query(mysql(), int_key(), after(ints({5})), 10, false, "`utime` >= ?", {Value::integer(1000)});
    EXPECT_EQ(q.sql, "SELECT `id`, `v` FROM `items` WHERE (`utime` >= ?) AND `id` > ? ORDER BY `id` LIMIT 10");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:1000", "integer:5"}));
}

TEST(KeysetSql, AFilterWithoutBoundsIsTheWholeWhereClause) {
    const BoundSql q = keyset_query(pg(), int_key(), {}, 10, false, "\"utime\" >= $1", {Value::integer(1000)});
    EXPECT_EQ(q.sql, "SELECT \"id\", \"v\" FROM \"items\" WHERE \"utime\" >= $1 ORDER BY \"id\" LIMIT 10");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:1000"}));
}

TEST(KeysetSql, ABoundOfTheWrongWidthIsAnInternalError) {
    try {
        keyset_query(pg(), pair_key(), after(ints({1})), 10);
        FAIL() << "a one-value bound on a two-column key was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::internal);
    }
}

TEST(KeysetSql, BadIdentifiersInThePlanAreRejected) {
    SidePlan s = int_key();
    s.table = "items\n; drop table users";
    EXPECT_THROW(keyset_query(pg(), s, {}, 10), Error);
}

TEST(KeyLookupSql, ASingleIntegerKeyUsesAnInList) {
    const BoundSql q = key_lookup_query(pg(), int_key(), {ints({3}), ints({1}), ints({2})});
    EXPECT_EQ(q.sql, "SELECT \"id\", \"v\" FROM \"items\" WHERE \"id\" IN ($1, $2, $3) ORDER BY \"id\"");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:3", "integer:1", "integer:2"}));
    const BoundSql m = key_lookup_query(mysql(), int_key(), {ints({3}), ints({1})});
    EXPECT_EQ(m.sql, "SELECT `id`, `v` FROM `items` WHERE `id` IN (?, ?) ORDER BY `id`");
}

TEST(KeyLookupSql, TheSuffixIsAppended) {
    const BoundSql q = key_lookup_query(mysql(), int_key(), {ints({1})}, mysql().for_update());
    EXPECT_EQ(q.sql, "SELECT `id`, `v` FROM `items` WHERE `id` IN (?) ORDER BY `id` FOR UPDATE");
}

TEST(KeyLookupSql, ACompositeKeyUsesAnOrOfAnds) {
    const BoundSql q = key_lookup_query(pg(), pair_key(), {ints({1, 2}), ints({3, 4})});
    EXPECT_EQ(q.sql,
              "SELECT \"a\", \"b\", \"v\" FROM \"items\" WHERE (\"a\" = $1 AND \"b\" = $2) OR "
              "(\"a\" = $3 AND \"b\" = $4) ORDER BY \"a\", \"b\"");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:1", "integer:2", "integer:3", "integer:4"}));
}

// PostgreSQL plans an OR of ANDs (or a row IN list) one arm per key: ~35 ms
// for 500 keys. With the columns' types known, it gets one VALUES join, the
// parameters cast to the columns' types so the index still applies.
TEST(KeyLookupSql, ACompositeKeyOnPostgresWithKnownTypesJoinsAValuesList) {
    SidePlan s = pair_key();
    s.sql_types = {"bigint", "character varying(32)", "text"};
    const BoundSql q = key_lookup_query(pg(), s, {ints({1, 2}), ints({3, 4})});
    EXPECT_EQ(q.sql,
              "SELECT \"a\", \"b\", \"v\" FROM \"items\" WHERE (\"a\", \"b\") IN (VALUES (CAST($1 AS bigint), "
              "CAST($2 AS character varying(32))), (CAST($3 AS bigint), CAST($4 AS character varying(32)))) ORDER BY "
              "\"a\", \"b\"");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:1", "integer:2", "integer:3", "integer:4"}));
    // MariaDB keeps the portable form (its range optimizer handles it).
    EXPECT_NE(key_lookup_query(mysql(), s, {ints({1, 2})}).sql.find("(`a` = ? AND `b` = ?)"), std::string::npos);
}

TEST(UniqueLookupSql, ACompositeUniqueKeyOnPostgresJoinsAValuesListAndSkipsRowsWithANull) {
    SidePlan s = side({"id"}, {ValueKind::integer});
    s.columns = {"id", "biz", "biz_id"};
    s.kinds = {ValueKind::integer, ValueKind::text, ValueKind::integer};
    s.sql_types = {"bigint", "text", "bigint"};
    const std::vector<Row> rows = {Row{Value::integer(1), Value::text("a"), Value::integer(7)},
                                   Row{Value::integer(2), Value::null(), Value::integer(8)},
                                   Row{Value::integer(3), Value::text("b"), Value::integer(9)}};
    const BoundSql q = unique_lookup_query(pg(), s, {1, 2}, rows);
    EXPECT_EQ(q.sql,
              "SELECT \"id\" FROM \"items\" WHERE (\"biz\", \"biz_id\") IN (VALUES (CAST($1 AS text), CAST($2 AS "
              "bigint)), (CAST($3 AS text), CAST($4 AS bigint)))");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"text:a", "integer:7", "text:b", "integer:9"}));
    // Only rows with a NULL in the index: nothing to look up.
    EXPECT_TRUE(unique_lookup_query(pg(), s, {1, 2}, {rows[1]}).sql.empty());
}

TEST(KeyLookupSql, ATextKeyMatchesExactlyButKeepsThePlainEqualityForTheIndex) {
    const BoundSql q = key_lookup_query(mysql(), text_key(), {Row{Value::text("a")}, Row{Value::text("B")}});
    EXPECT_EQ(q.sql,
              "SELECT `name`, `v` FROM `items` WHERE (`name` = ? AND CAST(`name` AS BINARY) = ?) OR "
              "(`name` = ? AND CAST(`name` AS BINARY) = ?) ORDER BY CAST(`name` AS BINARY)");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"text:a", "text:a", "text:B", "text:B"}));
}

TEST(KeyLookupSql, ATextKeyWithBinaryCollationUsesAnInList) {
    const BoundSql q = key_lookup_query(pg(), text_key(true), {Row{Value::text("a")}, Row{Value::text("b")}});
    EXPECT_EQ(q.sql, "SELECT \"name\", \"v\" FROM \"items\" WHERE \"name\" IN ($1, $2) ORDER BY \"name\"");
}

TEST(KeyLookupSql, NoKeysIsAnInternalError) {
    try {
        key_lookup_query(pg(), int_key(), {});
        FAIL() << "a lookup without keys was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::internal);
    }
}

TEST(KeyDeleteSql, DeletesByTheSameExactKeyMatch) {
    const BoundSql q = key_delete_query(mysql(), int_key(), {ints({5}), ints({6})});
    EXPECT_EQ(q.sql, "DELETE FROM `items` WHERE `id` IN (?, ?)");
    EXPECT_EQ(shown(q.params), (std::vector<std::string>{"integer:5", "integer:6"}));
    const BoundSql c = key_delete_query(pg(), pair_key(), {ints({1, 2})});
    EXPECT_EQ(c.sql, "DELETE FROM \"items\" WHERE (\"a\" = $1 AND \"b\" = $2)");
    const BoundSql t = key_delete_query(pg(), text_key(), {Row{Value::text("x")}});
    EXPECT_EQ(t.sql, "DELETE FROM \"items\" WHERE (\"name\" = $1 AND \"name\" COLLATE \"C\" = $2)");
    EXPECT_THROW(key_delete_query(pg(), int_key(), {}), Error);
}

}  // namespace
}  // namespace webook
