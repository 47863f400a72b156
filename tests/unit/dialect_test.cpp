#include "core/db/dialect.h"

#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/base/error.h"

namespace webook {
namespace {

::testing::AssertionResult contains(std::string_view haystack, std::string_view needle) {
    if (haystack.find(needle) != std::string_view::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "'" << haystack << "' does not contain '" << needle << "'";
}

::testing::AssertionResult lacks(std::string_view haystack, std::string_view needle) {
    if (haystack.find(needle) == std::string_view::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "'" << haystack << "' contains '" << needle << "'";
}

const Dialect& mysql() {
    return dialect_for(Engine::mysql);
}
const Dialect& pg() {
    return dialect_for(Engine::postgres);
}

ColumnDef column(std::string name, ColumnType type, int size = 0, int scale = 0) {
    ColumnDef c;
    c.name = std::move(name);
    c.type = type;
    c.size = size;
    c.scale = scale;
    return c;
}

// A table with one column of each interesting type and two indexes.
TableDef sample_table() {
    TableDef t;
    t.name = "articles";
    ColumnDef price = column("price", ColumnType::decimal, 10, 2);
    price.default_sql = "0";
    ColumnDef cover = column("cover", ColumnType::bytes);
    cover.nullable = true;
    t.columns = {
        column("id", ColumnType::id),
        column("published", ColumnType::boolean),
        column("title", ColumnType::varchar, 128),
        price,
        column("ctime", ColumnType::datetime),
        cover,
        column("slug", ColumnType::varchar, 64),
    };
    t.primary_key = {"id"};
    t.indexes = {{.name = "uk_slug", .columns = {"slug"}, .unique = true},
                 {.name = "idx_ctime", .columns = {"ctime", "id"}, .unique = false}};
    return t;
}

TEST(Dialect, DialectForReturnsTheEnginesDialect) {
    EXPECT_EQ(mysql().engine(), Engine::mysql);
    EXPECT_EQ(pg().engine(), Engine::postgres);
}

TEST(Dialect, MysqlQuotesWithBackticksAndPostgresWithDoubleQuotes) {
    EXPECT_EQ(mysql().quote("users"), "`users`");
    EXPECT_EQ(pg().quote("users"), "\"users\"");
    EXPECT_EQ(mysql().quote("_Biz_id2"), "`_Biz_id2`");
    EXPECT_EQ(pg().quote_list({"a", "b", "c"}), "\"a\", \"b\", \"c\"");
    EXPECT_EQ(mysql().quote_list({"a", "b"}), "`a`, `b`");
}

TEST(Dialect, QuoteAcceptsSixtyThreeCharactersButNotSixtyFour) {
    const std::string max(63, 'a');
    EXPECT_EQ(mysql().quote(max), "`" + max + "`");
    EXPECT_EQ(pg().quote(max), "\"" + max + "\"");
    for (const Dialect* d : {&mysql(), &pg()}) {
        try {
            d->quote(std::string(64, 'a'));
            ADD_FAILURE() << "a 64-character identifier was accepted on " << engine_name(d->engine());
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Code::config);
        }
    }
}

// Any name the servers accept is one quoted identifier: the quote character
// doubled inside, nothing else can end it.
TEST(Dialect, QuoteKeepsAnyNameOneIdentifier) {
    EXPECT_EQ(mysql().quote("a`b"), "`a``b`");
    EXPECT_EQ(pg().quote("a\"b"), "\"a\"\"b\"");
    EXPECT_EQ(mysql().quote("a\"b"), "`a\"b`");
    EXPECT_EQ(pg().quote("a`b"), "\"a`b\"");
    EXPECT_EQ(mysql().quote("users; drop"), "`users; drop`");
    EXPECT_EQ(pg().quote("circuitId"), "\"circuitId\"");
    for (const char* name : {"order-lines", "a$b", "two words", "na\xC3\xAFve", "it's", "a\\b", "1abc"}) {
        EXPECT_EQ(mysql().quote(name), "`" + std::string(name) + "`");
        EXPECT_EQ(pg().quote(name), "\"" + std::string(name) + "\"");
    }
}

TEST(Dialect, QuoteRejectsNamesNoServerTakesOrThatWouldBeTruncated) {
    for (const Dialect* d : {&mysql(), &pg()}) {
        for (const std::string& bad : {std::string(), std::string("a\nb"), std::string("a\0b", 3), std::string("a\x7f"),
                                       std::string("bad\xC3"), std::string("\xC0\xAF"), std::string(64, 'x')}) {
            SCOPED_TRACE(std::string(engine_name(d->engine())) + " '" + bad + "'");
            try {
                d->quote(bad);
                ADD_FAILURE() << "accepted";
            } catch (const Error& e) {
                EXPECT_EQ(e.code(), Code::config);
                EXPECT_TRUE(contains(e.what(), "invalid identifier"));
            }
        }
    }
}

TEST(Dialect, ValidIdentifierMatchesTheDocumentedRule) {
    EXPECT_TRUE(valid_identifier("a"));
    EXPECT_TRUE(valid_identifier("9z"));
    EXPECT_TRUE(valid_identifier("a$b"));
    EXPECT_TRUE(valid_identifier("\xE8\xA1\xA8\xF0\x9F\x98\x80"));
    EXPECT_FALSE(valid_identifier(""));
    EXPECT_FALSE(valid_identifier("tab\tname"));
    EXPECT_TRUE(valid_identifier(std::string(63, 'x')));
    EXPECT_FALSE(valid_identifier(std::string(64, 'x')));
}

TEST(Dialect, MysqlPlaceholdersAreQuestionMarks) {
    EXPECT_EQ(mysql().placeholder(1), "?");
    EXPECT_EQ(mysql().placeholder(3), "?");
    EXPECT_EQ(mysql().placeholders(3, 2), "(?, ?)");
}

TEST(Dialect, PostgresPlaceholdersAreNumbered) {
    EXPECT_EQ(pg().placeholder(1), "$1");
    EXPECT_EQ(pg().placeholder(3), "$3");
    EXPECT_EQ(pg().placeholders(3, 3), "($3, $4, $5)");
    EXPECT_EQ(pg().placeholders(1, 0), "()");
}

TEST(Dialect, MysqlUpsertUpdatesNonKeyColumnsFromValues) {
    EXPECT_EQ(mysql().upsert("users", {"id", "name", "age"}, {"id"}),
              "INSERT INTO `users` (`id`, `name`, `age`) VALUES (?, ?, ?) "
              "ON DUPLICATE KEY UPDATE `name` = VALUES(`name`), `age` = VALUES(`age`)");
}

TEST(Dialect, MysqlUpsertRepeatsThePlaceholderRowPerRow) {
    EXPECT_EQ(mysql().upsert("users", {"id", "name"}, {"id"}, 3),
              "INSERT INTO `users` (`id`, `name`) VALUES (?, ?), (?, ?), (?, ?) "
              "ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)");
}

TEST(Dialect, MysqlUpsertOfOnlyKeyColumnsIsANoOpUpdate) {
    EXPECT_EQ(mysql().upsert("tags", {"a", "b"}, {"a", "b"}),
              "INSERT INTO `tags` (`a`, `b`) VALUES (?, ?) ON DUPLICATE KEY UPDATE `a` = `a`");
}

TEST(Dialect, PostgresUpsertUpdatesNonKeyColumnsFromExcluded) {
    EXPECT_EQ(pg().upsert("users", {"id", "name", "age"}, {"id"}),
              "INSERT INTO \"users\" (\"id\", \"name\", \"age\") VALUES ($1, $2, $3) "
              "ON CONFLICT (\"id\") DO UPDATE SET \"name\" = EXCLUDED.\"name\", \"age\" = "
              "EXCLUDED.\"age\"");
}

TEST(Dialect, PostgresMultiRowUpsertNumbersPlaceholdersConsecutively) {
    EXPECT_EQ(pg().upsert("interactives", {"biz", "biz_id", "cnt"}, {"biz", "biz_id"}, 2),
              "INSERT INTO \"interactives\" (\"biz\", \"biz_id\", \"cnt\") VALUES ($1, $2, $3), "
              "($4, $5, $6) "
              "ON CONFLICT (\"biz\", \"biz_id\") DO UPDATE SET \"cnt\" = EXCLUDED.\"cnt\"");
}

TEST(Dialect, PostgresUpsertOfOnlyKeyColumnsDoesNothingOnConflict) {
    EXPECT_EQ(pg().upsert("tags", {"a", "b"}, {"a", "b"}),
              "INSERT INTO \"tags\" (\"a\", \"b\") VALUES ($1, $2) ON CONFLICT (\"a\", \"b\") DO "
              "NOTHING");
}

TEST(Dialect, UpsertRejectsBadIdentifiers) {
    EXPECT_THROW(mysql().upsert("users\ndrop", {"id"}, {"id"}), Error);
    EXPECT_THROW(pg().upsert("users", {"id", ""}, {"id"}), Error);
}

TEST(Dialect, InsertIgnoreSkipsExistingKeys) {
    EXPECT_EQ(mysql().insert_ignore("users", {"id", "name"}, 2),
              "INSERT IGNORE INTO `users` (`id`, `name`) VALUES (?, ?), (?, ?)");
    EXPECT_EQ(pg().insert_ignore("users", {"id", "name"}, 2),
              "INSERT INTO \"users\" (\"id\", \"name\") VALUES ($1, $2), ($3, $4) ON CONFLICT DO "
              "NOTHING");
}

TEST(Dialect, BinaryComparesTextByteWise) {
    EXPECT_EQ(mysql().binary("`name`"), "CAST(`name` AS BINARY)");
    EXPECT_EQ(pg().binary("\"name\""), "\"name\" COLLATE \"C\"");
}

TEST(Dialect, LockingAndClockClauses) {
    EXPECT_EQ(mysql().for_update(), " FOR UPDATE");
    EXPECT_EQ(pg().for_update(), " FOR UPDATE");
    EXPECT_EQ(mysql().for_share(), " LOCK IN SHARE MODE");
    EXPECT_EQ(pg().for_share(), " FOR SHARE");
    EXPECT_TRUE(contains(mysql().now(), "UTC"));
    EXPECT_TRUE(contains(pg().now(), "UTC"));
}

TEST(Dialect, TypeNamesDifferPerEngine) {
    struct Case {
        ColumnDef column;
        const char* mysql;
        const char* pg;
    };
    const Case cases[] = {
        {column("c", ColumnType::id), "BIGINT NOT NULL AUTO_INCREMENT", "BIGSERIAL"},
        {column("c", ColumnType::bigint), "BIGINT", "bigint"},
        {column("c", ColumnType::integer), "INT", "integer"},
        {column("c", ColumnType::smallint), "SMALLINT", "smallint"},
        {column("c", ColumnType::boolean), "TINYINT(1)", "boolean"},
        {column("c", ColumnType::varchar, 255), "VARCHAR(255)", "varchar(255)"},
        {column("c", ColumnType::text), "TEXT", "text"},
        {column("c", ColumnType::longtext), "LONGTEXT", "text"},
        {column("c", ColumnType::decimal, 10, 2), "DECIMAL(10,2)", "numeric(10,2)"},
        {column("c", ColumnType::real), "DOUBLE", "double precision"},
        {column("c", ColumnType::datetime), "DATETIME(6)", "timestamp(6) without time zone"},
        {column("c", ColumnType::date), "DATE", "date"},
        {column("c", ColumnType::bytes), "BLOB", "bytea"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(mysql().type_name(c.column), c.mysql);
        EXPECT_EQ(pg().type_name(c.column), c.pg);
    }
}

TEST(Dialect, MysqlCreateTableIsOneStatementWithInlineKeys) {
    const auto sql = mysql().create_table(sample_table());
    ASSERT_EQ(sql.size(), 1u);
    const std::string& s = sql[0];
    EXPECT_EQ(s.rfind("CREATE TABLE IF NOT EXISTS `articles` (", 0), 0u) << s;
    EXPECT_TRUE(contains(s, "`id` BIGINT NOT NULL AUTO_INCREMENT,"));
    EXPECT_TRUE(contains(s, "`published` TINYINT(1) NOT NULL,"));
    EXPECT_TRUE(contains(s, "`title` VARCHAR(128) NOT NULL,"));
    EXPECT_TRUE(contains(s, "`price` DECIMAL(10,2) NOT NULL DEFAULT 0,"));
    EXPECT_TRUE(contains(s, "`ctime` DATETIME(6) NOT NULL,"));
    EXPECT_TRUE(contains(s, "`cover` BLOB NULL,"));
    EXPECT_TRUE(contains(s, "PRIMARY KEY (`id`)"));
    EXPECT_TRUE(contains(s, "UNIQUE KEY `uk_slug` (`slug`)"));
    EXPECT_TRUE(contains(s, "KEY `idx_ctime` (`ctime`, `id`)"));
    EXPECT_TRUE(lacks(s, "UNIQUE KEY `idx_ctime`"));
    EXPECT_TRUE(contains(s, "utf8mb4"));
}

TEST(Dialect, PostgresCreateTableCreatesUniqueIndexesSeparately) {
    const auto sql = pg().create_table(sample_table());
    ASSERT_EQ(sql.size(), 3u);
    const std::string& s = sql[0];
    EXPECT_EQ(s.rfind("CREATE TABLE IF NOT EXISTS \"articles\" (", 0), 0u) << s;
    EXPECT_TRUE(contains(s, "\"id\" BIGSERIAL,"));
    EXPECT_TRUE(contains(s, "\"published\" boolean NOT NULL,"));
    EXPECT_TRUE(contains(s, "\"title\" varchar(128) NOT NULL,"));
    EXPECT_TRUE(contains(s, "\"price\" numeric(10,2) NOT NULL DEFAULT 0,"));
    EXPECT_TRUE(contains(s, "\"ctime\" timestamp(6) without time zone NOT NULL,"));
    EXPECT_TRUE(contains(s, "\"cover\" bytea NULL,"));
    EXPECT_TRUE(contains(s, "PRIMARY KEY (\"id\")"));
    EXPECT_TRUE(lacks(s, "KEY \"uk_slug\""));
    EXPECT_TRUE(lacks(s, "ENGINE"));
    EXPECT_EQ(sql[1], "CREATE UNIQUE INDEX IF NOT EXISTS \"articles_uk_slug\" ON \"articles\" (\"slug\")");
    EXPECT_EQ(sql[2], "CREATE INDEX IF NOT EXISTS \"articles_idx_ctime\" ON \"articles\" (\"ctime\", \"id\")");
}

TEST(Dialect, CreateTableWithACompositePrimaryKey) {
    TableDef t;
    t.name = "interactives";
    t.columns = {column("biz", ColumnType::varchar, 32), column("biz_id", ColumnType::bigint)};
    t.primary_key = {"biz", "biz_id"};
    EXPECT_TRUE(contains(mysql().create_table(t).at(0), "PRIMARY KEY (`biz`, `biz_id`)"));
    const auto pg_sql = pg().create_table(t);
    ASSERT_EQ(pg_sql.size(), 1u);
    EXPECT_TRUE(contains(pg_sql[0], "PRIMARY KEY (\"biz\", \"biz_id\")"));
}

TEST(Dialect, CreateTableRejectsBadColumnNames) {
    TableDef t = sample_table();
    t.columns.push_back(column("evil\nname", ColumnType::bigint));
    EXPECT_THROW(mysql().create_table(t), Error);
    EXPECT_THROW(pg().create_table(t), Error);
}

TEST(Dialect, TruncateQuotesTheTable) {
    EXPECT_EQ(mysql().truncate("users"), "TRUNCATE TABLE `users`");
    EXPECT_EQ(pg().truncate("users"), "TRUNCATE TABLE \"users\"");
    EXPECT_EQ(pg().truncate("users; drop"), "TRUNCATE TABLE \"users; drop\"");
    EXPECT_THROW(pg().truncate(""), Error);
}

TEST(Dialect, OnlyPostgresNeedsItsIdentitySequenceMoved) {
    EXPECT_TRUE(mysql().sync_identity("users", "id").empty());
    const auto sql = pg().sync_identity("users", "id");
    ASSERT_EQ(sql.size(), 1u);
    EXPECT_TRUE(contains(sql[0], "pg_get_serial_sequence(E'\"users\"', E'id')"));
    EXPECT_TRUE(contains(sql[0], "q.m > COALESCE(pg_sequence_last_value(q.s), 0)"));  // forward only
    EXPECT_TRUE(contains(sql[0], "MAX(\"id\") FROM \"users\""));
    // Names with quotes stay inside their literals.
    const auto odd = pg().sync_identity("us'e\\rs", "id'); drop table x; --");
    EXPECT_TRUE(contains(odd[0], "pg_get_serial_sequence(E'\"us''e\\\\rs\"', E'id''); drop table x; --')")) << odd[0];
    EXPECT_THROW(pg().sync_identity("users", ""), Error);
}

TEST(Dialect, CanonicalTextRefusesRealColumns) {
    for (const Dialect* d : {&mysql(), &pg()}) {
        SCOPED_TRACE(engine_name(d->engine()));
        try {
            d->canonical_text(d->quote("score"), ValueKind::real, -1);
            ADD_FAILURE() << "a real column got a canonical text";
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), Code::config);
            EXPECT_TRUE(contains(e.what(), "score"));
        }
    }
}

TEST(Dialect, CanonicalTextMatchesValueCanonicalForms) {
    EXPECT_EQ(mysql().canonical_text("`b`", ValueKind::bytes, -1), "LOWER(HEX(`b`))");
    EXPECT_EQ(pg().canonical_text("\"b\"", ValueKind::bytes, -1), "encode(\"b\", 'hex')");
    EXPECT_EQ(pg().canonical_text("\"f\"", ValueKind::boolean, -1), "\"f\"::int::text");
    EXPECT_EQ(pg().canonical_text("\"p\"", ValueKind::decimal, 2), "trim_scale(\"p\")::text");
    EXPECT_EQ(mysql().canonical_text("`p`", ValueKind::decimal, 0), "CAST(`p` AS CHAR)");
    EXPECT_TRUE(contains(mysql().canonical_text("`p`", ValueKind::decimal, 2), "TRIM(TRAILING '0'"));
    // Datetimes as PostgreSQL prints a timestamp: the fraction's trailing zeros dropped.
    EXPECT_EQ(mysql().canonical_text("`t`", ValueKind::datetime, -1, "datetime(3)"),
              "IF(MICROSECOND(`t`) = 0, LEFT(`t`, 19), TRIM(TRAILING '0' FROM `t`))");
    EXPECT_EQ(mysql().canonical_text("`t`", ValueKind::datetime, -1, "datetime"), "`t`");
    EXPECT_EQ(pg().canonical_text("\"t\"", ValueKind::datetime, -1, "timestamp(6) without time zone"), "\"t\"::text");
    EXPECT_EQ(pg().canonical_text("\"t\"", ValueKind::datetime, -1, "timestamp with time zone"),
              "(\"t\" AT TIME ZONE 'UTC')::text");
}

TEST(Dialect, RowHashPrefixesOnlyTextAndMarksOnlyNullableColumns) {
    using C = Dialect::HashedColumn;
    const std::vector<C> cols{{"`id`", ValueKind::integer, -1, false, "bigint(20)"},
                              {"`name`", ValueKind::text, -1, true, "varchar(32)"},
                              {"`at`", ValueKind::datetime, -1, false, "datetime(6)"},
                              {"`on`", ValueKind::date, -1, true, "date"}};
    EXPECT_EQ(mysql().row_hash64(cols),
              "CAST(CONV(SUBSTR(MD5(CONCAT_WS('|', `id`, COALESCE(CONCAT(LENGTH(`name`), ':', CAST(`name` AS "
              "BINARY)), 'N'), IF(MICROSECOND(`at`) = 0, LEFT(`at`, 19), TRIM(TRAILING '0' FROM `at`)), "
              "COALESCE(`on`, 'N'))), 1, 16), 16, 10) AS UNSIGNED)");
    EXPECT_EQ(pg().row_hash64({{"\"id\"", ValueKind::integer, -1, true, "bigint"},
                               {"\"name\"", ValueKind::text, -1, false, "character varying(32)"}}),
              "('x' || SUBSTR(MD5(CONCAT_WS('|', COALESCE(\"id\"::text, 'N'), (octet_length(\"name\") || ':' || "
              "\"name\"))), 1, 16))::bit(64)::bigint");
}

// The Dialect only parses the catalog's answer (secondary_indexes() runs
// the queries): MySQL's KEY clauses out of SHOW CREATE TABLE, names with
// doubled backticks unescaped, the primary key and constraints left out.
TEST(Dialect, MysqlSecondaryIndexesAreTheKeyClausesOfShowCreateTable) {
    const std::string ddl =
        "CREATE TABLE `t` (\n"
        "  `id` bigint(20) NOT NULL,\n"
        "  `a``b` varchar(10) DEFAULT NULL,\n"
        "  `note` text,\n"
        "  PRIMARY KEY (`id`),\n"
        "  UNIQUE KEY `ux_ab` (`a``b`),\n"
        "  KEY `ix_we``ird` (`note`(20)),\n"
        "  FULLTEXT KEY `ft_note` (`note`),\n"
        "  CONSTRAINT `fk` FOREIGN KEY (`id`) REFERENCES `u` (`id`)\n"
        ") ENGINE=InnoDB";
    const std::vector<Row> rows{Row{Value::text("t"), Value::text(ddl)}};
    const auto got = mysql().parse_index_listing(rows);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(got[0].name, "ux_ab");
    EXPECT_EQ(got[0].definition, "UNIQUE KEY `ux_ab` (`a``b`)");
    EXPECT_EQ(got[1].name, "ix_we`ird");
    EXPECT_EQ(got[1].definition, "KEY `ix_we``ird` (`note`(20))");
    EXPECT_EQ(got[2].name, "ft_note");
    EXPECT_TRUE(mysql().parse_index_listing({}).empty());
    EXPECT_FALSE(mysql().index_keeping_sql().empty());
    EXPECT_TRUE(pg().index_keeping_sql().empty());
}

}  // namespace
}  // namespace webook
