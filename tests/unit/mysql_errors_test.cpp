// The pure message helpers of the MariaDB/MySQL error translation.
#include "core/db/mysql_errors.h"

#include <string>

#include <gtest/gtest.h>

namespace webook {
namespace {

using mysql_detail::connector_reason;
using mysql_detail::sql_head;
using mysql_detail::table_from_message;
using mysql_detail::trailing_errno;

TEST(MysqlErrors, TableFromMessageDropsTheSchema) {
    EXPECT_EQ(table_from_message("Table 'webook.x' doesn't exist"), "x");
    EXPECT_EQ(table_from_message("Table 'interactives' doesn't exist"), "interactives");
    EXPECT_EQ(table_from_message("Table 'a.b.c' doesn't exist"), "c");  // after the last dot
    EXPECT_EQ(table_from_message("Table '' doesn't exist"), "");
}

TEST(MysqlErrors, TableFromMessageWithoutAQuotedNameIsAQuestionMark) {
    EXPECT_EQ(table_from_message("Table doesn't exist"), "?");
    EXPECT_EQ(table_from_message("Table 'webook.x"), "?");
    EXPECT_EQ(table_from_message(""), "?");
}

TEST(MysqlErrors, TrailingErrnoReadsTheLastParenthesisedNumber) {
    EXPECT_EQ(trailing_errno("Can't connect to server on '127.0.0.1' (111)"), 111);
    EXPECT_EQ(trailing_errno("Can't connect to MySQL server on 'db' (115)"), 115);
    EXPECT_EQ(trailing_errno("Lost connection (at 'reading') (110)"), 110);
    EXPECT_EQ(trailing_errno("(12) and then (34)"), 34);
    EXPECT_EQ(trailing_errno("(-1)"), -1);
}

TEST(MysqlErrors, TrailingErrnoIsZeroWithoutANumber) {
    EXPECT_EQ(trailing_errno("Unknown MySQL server host 'nowhere'"), 0);
    EXPECT_EQ(trailing_errno("Can't connect (111 \"Connection refused\")"), 0);
    EXPECT_EQ(trailing_errno("refused (abc)"), 0);
    EXPECT_EQ(trailing_errno("refused ()"), 0);
    EXPECT_EQ(trailing_errno("refused ) (111"), 0);  // no closing parenthesis after the opening one
    EXPECT_EQ(trailing_errno(""), 0);
}

TEST(MysqlErrors, ConnectorReasonKeepsOnlyTheReason) {
    EXPECT_EQ(connector_reason("MySQL_Prepared_Statement::setInt64: invalid 'parameterIndex'"),
              ": invalid 'parameterIndex'");
    EXPECT_EQ(connector_reason("MySQL_Statement::execute: a: b"), ": a: b");
    EXPECT_EQ(connector_reason("MySQL_Connection::getClientOption"), "");
    EXPECT_EQ(connector_reason("Statement has been closed"), ": Statement has been closed");
    EXPECT_EQ(connector_reason(""), "");
}

TEST(MysqlErrors, SqlHeadCollapsesWhitespace) {
    EXPECT_EQ(sql_head("  SELECT\n  a,\tb\r\nFROM   t  \n"), "SELECT a, b FROM t");
    EXPECT_EQ(sql_head(""), "");
    EXPECT_EQ(sql_head(" \n\t"), "");
}

TEST(MysqlErrors, SqlHeadCutsAt120Characters) {
    EXPECT_EQ(sql_head(std::string(200, 'x')), std::string(120, 'x') + "...");
    EXPECT_EQ(sql_head(std::string(119, 'x')), std::string(119, 'x'));
    // At exactly 120 characters the "..." is added although nothing was cut.
    EXPECT_EQ(sql_head(std::string(120, 'x')), std::string(120, 'x') + "...");
}

}  // namespace
}  // namespace webook
