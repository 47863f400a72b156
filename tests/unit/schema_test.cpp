// migrate schema's planning, without servers: the MySQL -> PostgreSQL type
// mapping, the same-engine rewrites, the comparison of an existing table.
#include "migrate/schema.h"

#include <gtest/gtest.h>

#include <string>

#include "core/base/error.h"
#include "core/db/catalog.h"

namespace webook {
namespace {

CatalogColumn mysql_column(const std::string& name, const std::string& data_type, const std::string& column_type,
                           bool nullable = true) {
    CatalogColumn c;
    c.name = name;
    c.data_type = data_type;
    c.column_type = column_type;
    c.nullable = nullable;
    c.is_unsigned = column_type.find(" unsigned") != std::string::npos;
    if (data_type == "enum" || data_type == "set") c.labels = parse_mysql_labels(column_type);
    return c;
}

TableConfig config_of(const std::string& name) {
    TableConfig t;
    t.name = name;
    return t;
}

const PlannedColumn& planned(const TableSchema& s, const std::string& name) {
    for (const auto& c : s.columns)
        if (c.name == name) return c;
    throw std::runtime_error("no planned column " + name);
}

bool has_note(const TableSchema& s, const std::string& part) {
    for (const auto& n : s.notes)
        if (n.find(part) != std::string::npos) return true;
    return false;
}

TEST(SchemaLabels, EnumAndSetMembersAsMysqlWritesThem) {
    EXPECT_EQ(parse_mysql_labels("enum('a','b')"), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(parse_mysql_labels("set('it''s','x,y','')"), (std::vector<std::string>{"it's", "x,y", ""}));
    EXPECT_TRUE(parse_mysql_labels("int(11)").empty());
}

TEST(SchemaTypes, NormalizedSpellingsCompareEqual) {
    EXPECT_EQ(normalize_type("INT4"), "integer");
    EXPECT_EQ(normalize_type("varchar( 5 )"), "character varying(5)");
    EXPECT_EQ(normalize_type("timestamptz(3)"), "timestamp(3) with time zone");
    EXPECT_EQ(normalize_type("timestamp"), "timestamp without time zone");
    EXPECT_EQ(normalize_type("Numeric(20, 0)"), "numeric(20,0)");
    EXPECT_EQ(normalize_type("bool"), "boolean");
    EXPECT_NE(normalize_type("bigint"), normalize_type("integer"));
}

// Every MySQL type the README's table lists, mapped as it says.
TEST(SchemaMysqlToPostgres, EachTypeMapsAsTheReadmeSays) {
    TableDefinition def;
    def.name = "t";
    def.columns = {
        mysql_column("id", "bigint", "bigint(20) unsigned", false),
        mysql_column("flag", "tinyint", "tinyint(1)"),
        mysql_column("tiny", "tinyint", "tinyint(3) unsigned"),
        mysql_column("small_u", "smallint", "smallint(5) unsigned"),
        mysql_column("medium", "mediumint", "mediumint(9)"),
        mysql_column("int_u", "int", "int(10) unsigned"),
        mysql_column("big_u", "bigint", "bigint(20) unsigned"),
        mysql_column("price", "decimal", "decimal(65,30) unsigned"),
        mysql_column("f", "float", "float"),
        mysql_column("d", "double", "double"),
        mysql_column("bits", "bit", "bit(10)"),
        mysql_column("code", "char", "char(8)"),
        mysql_column("name", "varchar", "varchar(64)"),
        mysql_column("body", "longtext", "longtext"),
        mysql_column("raw", "varbinary", "varbinary(16)"),
        mysql_column("born", "date", "date"),
        mysql_column("at", "datetime", "datetime(3)"),
        mysql_column("ts", "timestamp", "timestamp(6)"),
        mysql_column("dur", "time", "time"),
        mysql_column("yr", "year", "year(4)"),
        mysql_column("status", "enum", "enum('new','it''s')"),
        mysql_column("tags", "set", "set('a','b')"),
        mysql_column("doc", "longtext", "longtext"),
    };
    def.columns[0].auto_increment = true;
    def.columns[7].numeric_precision = 65;
    def.columns[7].numeric_scale = 30;
    def.columns[10].numeric_precision = 10;
    def.columns[11].char_length = 8;
    def.columns[12].char_length = 64;
    def.columns[16].datetime_precision = 3;
    def.columns[17].datetime_precision = 6;
    def.columns[18].datetime_precision = 0;
    def.checks = {{"doc", "json_valid(`doc`)"}};
    def.primary_key = {"id"};
    const TableSchema s = plan_schema(def, Engine::mysql, Engine::postgres, config_of("t"));
    ASSERT_EQ(s.refusal, "");
    EXPECT_EQ(planned(s, "id").type, "bigint");
    EXPECT_EQ(planned(s, "flag").type, "smallint");
    EXPECT_EQ(planned(s, "tiny").type, "smallint");
    EXPECT_EQ(planned(s, "small_u").type, "integer");
    EXPECT_EQ(planned(s, "medium").type, "integer");
    EXPECT_EQ(planned(s, "int_u").type, "bigint");
    EXPECT_EQ(planned(s, "big_u").type, "numeric(20,0)");
    EXPECT_EQ(planned(s, "price").type, "numeric(65,30)");
    EXPECT_EQ(planned(s, "f").type, "real");
    EXPECT_EQ(planned(s, "d").type, "double precision");
    EXPECT_EQ(planned(s, "bits").type, "bigint");
    EXPECT_EQ(planned(s, "code").type, "character varying(8)");
    EXPECT_EQ(planned(s, "name").type, "character varying(64)");
    EXPECT_EQ(planned(s, "body").type, "text");
    EXPECT_EQ(planned(s, "raw").type, "bytea");
    EXPECT_EQ(planned(s, "born").type, "date");
    EXPECT_EQ(planned(s, "at").type, "timestamp(3) without time zone");
    EXPECT_EQ(planned(s, "ts").type, "timestamp(6) with time zone");
    EXPECT_EQ(planned(s, "dur").type, "interval(0)");
    EXPECT_EQ(planned(s, "yr").type, "smallint");
    EXPECT_EQ(planned(s, "status").type, "text");
    EXPECT_EQ(planned(s, "tags").type, "text");
    EXPECT_EQ(planned(s, "doc").type, "jsonb");  // MariaDB's JSON is LONGTEXT with json_valid()
    EXPECT_FALSE(planned(s, "id").nullable);
    ASSERT_FALSE(s.statements.empty());
    const std::string& create = s.statements[0];
    EXPECT_NE(create.find("\"id\" bigint GENERATED BY DEFAULT AS IDENTITY NOT NULL CHECK (\"id\" >= 0)"),
              std::string::npos)
        << create;
    EXPECT_NE(create.find("CHECK (\"big_u\" BETWEEN 0 AND 18446744073709551615)"), std::string::npos);
    EXPECT_NE(create.find("CHECK (\"status\" IN ('new', 'it''s'))"), std::string::npos) << create;
    EXPECT_NE(create.find("string_to_array(\"tags\", ',') <@ ARRAY['a', 'b']::text[]"), std::string::npos);
    EXPECT_NE(create.find("PRIMARY KEY (\"id\")"), std::string::npos);
    EXPECT_TRUE(has_note(s, "types = { flag = \"boolean\" }"));
    EXPECT_FALSE(has_note(s, "CHECK doc"));  // the JSON check is jsonb's own
}

TEST(SchemaMysqlToPostgres, TypesWithoutAnExactTargetAreRefusedNamingTheColumn) {
    TableDefinition def;
    def.name = "places";
    def.columns = {mysql_column("id", "int", "int(11)", false), mysql_column("spot", "point", "point")};
    def.primary_key = {"id"};
    const TableSchema s = plan_schema(def, Engine::mysql, Engine::postgres, config_of("places"));
    EXPECT_NE(s.refusal.find("column spot: point"), std::string::npos) << s.refusal;
    EXPECT_TRUE(s.statements.empty());
    // An override carries it.
    TableConfig carried = config_of("places");
    carried.types["spot"] = "bytea";
    const TableSchema o = plan_schema(def, Engine::mysql, Engine::postgres, carried);
    EXPECT_EQ(o.refusal, "");
    EXPECT_EQ(planned(o, "spot").type, "bytea");
    carried.types["nope"] = "text";
    EXPECT_THROW(plan_schema(def, Engine::mysql, Engine::postgres, carried), Error);
}

TEST(SchemaMysqlToPostgres, DefaultsTranslateOrAreNamedAsNotCarried) {
    TableDefinition def;
    def.name = "t";
    def.columns = {mysql_column("id", "int", "int(11)", false),   mysql_column("name", "varchar", "varchar(10)"),
                   mysql_column("at", "datetime", "datetime(6)"), mysql_column("zero", "datetime", "datetime"),
                   mysql_column("n", "int", "int(11)"),           mysql_column("u", "varchar", "varchar(36)")};
    def.columns[1].char_length = 10;
    def.columns[5].char_length = 36;
    def.columns[1].default_expr = "'it''s'";
    def.columns[2].datetime_precision = 6;
    def.columns[2].default_expr = "current_timestamp(6)";
    def.columns[2].on_update = "on update current_timestamp(6)";
    def.columns[3].default_expr = "'0000-00-00 00:00:00'";
    def.columns[4].default_expr = "-5";
    def.columns[5].default_expr = "uuid()";
    def.primary_key = {"id"};
    const TableSchema s = plan_schema(def, Engine::mysql, Engine::postgres, config_of("t"));
    const std::string& create = s.statements.at(0);
    EXPECT_NE(create.find("\"name\" character varying(10) DEFAULT 'it''s'"), std::string::npos) << create;
    EXPECT_NE(create.find("\"at\" timestamp(6) without time zone DEFAULT LOCALTIMESTAMP"), std::string::npos);
    EXPECT_NE(create.find("\"n\" integer DEFAULT -5"), std::string::npos);
    EXPECT_TRUE(has_note(s, "zero date"));
    EXPECT_TRUE(has_note(s, "on update current_timestamp(6) not carried"));
    EXPECT_TRUE(has_note(s, "default uuid() not carried"));
}

TEST(SchemaMysqlToMysql, TheDefinitionAsItIsWithForeignKeysAfterTheCopy) {
    TableDefinition def;
    def.name = "child";
    def.columns = {mysql_column("id", "int", "int(11)", false), mysql_column("parent", "int", "int(11)")};
    def.primary_key = {"id"};
    def.foreign_keys = {{"fk_parent", {"parent"}, "parent", {"id"}, "RESTRICT", "CASCADE"}};
    def.create_sql =
        "CREATE TABLE `child` (\n"
        "  `id` int(11) NOT NULL AUTO_INCREMENT,\n"
        "  `parent` int(11) DEFAULT NULL COMMENT 'the `parent` row',\n"
        "  PRIMARY KEY (`id`),\n"
        "  KEY `fk_parent` (`parent`),\n"
        "  CONSTRAINT `fk_parent` FOREIGN KEY (`parent`) REFERENCES `parent` (`id`) ON DELETE CASCADE\n"
        ") ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4";
    TableConfig config = config_of("child");
    config.column_map["parent"] = "parent_id";
    const TableSchema s = plan_schema(def, Engine::mysql, Engine::mysql, config);
    ASSERT_EQ(s.statements.size(), 1u);
    EXPECT_EQ(s.statements[0],
              "CREATE TABLE IF NOT EXISTS `child` (\n"
              "  `id` int(11) NOT NULL AUTO_INCREMENT,\n"
              "  `parent_id` int(11) DEFAULT NULL COMMENT 'the `parent` row',\n"
              "  PRIMARY KEY (`id`),\n"
              "  KEY `fk_parent` (`parent_id`)\n"
              ") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4");
    ASSERT_EQ(s.after_copy.size(), 1u);
    EXPECT_NE(s.after_copy[0].find("FOREIGN KEY (`parent_id`) REFERENCES `parent` (`id`)"), std::string::npos);
}

TEST(SchemaCompare, WhatTheCopyNeedsDiffersTheRestIsANote) {
    TableSchema plan;
    plan.table = "t";
    plan.columns = {{"id", "bigint", false}, {"name", "character varying(64)", true}, {"n", "integer", false}};
    plan.primary_key = {"id"};
    plan.unique_indexes = {{"name"}};
    plan.plain_indexes = {{"n"}};
    TableDefinition have;
    have.name = "t";
    have.columns = {mysql_column("id", "int8", "bigint", false), mysql_column("name", "varchar", "varchar(64)", false),
                    mysql_column("n", "int4", "integer", true), mysql_column("extra", "text", "text", true)};
    have.primary_key = {"id"};
    std::vector<std::string> notes;
    auto diffs = compare_schema(plan, have, notes);
    EXPECT_EQ(diffs, (std::vector<std::string>{"column name: NOT NULL, the source's allows NULL",
                                               "no unique index on (name), which the source has"}));
    EXPECT_EQ(notes.size(), 3u);  // n allows NULL, extra is the target's only, no index on n
    have.columns[1].nullable = true;
    have.columns[2].column_type = "smallint";
    have.indexes = {{"t_name", {{"name", 0, false}}, true, "btree", "", false}};
    notes.clear();
    diffs = compare_schema(plan, have, notes);
    EXPECT_EQ(diffs, (std::vector<std::string>{"column n: smallint, the source's maps to integer"}));
}

}  // namespace
}  // namespace webook
