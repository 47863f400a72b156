#include "core/db/json_text.h"

#include <gtest/gtest.h>

namespace webook {
namespace {

std::string canon(std::string_view text) {
    auto c = canonical_json(text);
    EXPECT_TRUE(c.has_value()) << text;
    return c.value_or("<not json>");
}

TEST(CanonicalJson, SpacingAndKeyOrderDoNotMatter) {
    // MySQL's text, PostgreSQL jsonb's, and a hand-written one.
    EXPECT_EQ(canon(R"({"k":1,"a":[1,2]})"), R"({"a":[1,2],"k":1})");
    EXPECT_EQ(canon(R"({"k": 1, "a": [1, 2]})"), R"({"a":[1,2],"k":1})");
    EXPECT_EQ(canon(" {\n\t\"a\" :[ 1 ,2 ] ,\"k\":1 } "), R"({"a":[1,2],"k":1})");
    EXPECT_EQ(canon(R"({"o":{"z":null,"b":true}})"), R"({"o":{"b":true,"z":null}})");
}

TEST(CanonicalJson, ArrayOrderStringsAndNumbersMatter) {
    EXPECT_NE(canon("[1,2]"), canon("[2,1]"));
    EXPECT_NE(canon(R"({"k":1})"), canon(R"({"k":"1"})"));
    EXPECT_NE(canon(R"({"k":1})"), canon(R"({"k":2})"));
    EXPECT_NE(canon(R"({"k":0.1})"), canon(R"({"k":0.10000000000000001})"));
    EXPECT_NE(canon(R"({"k":"a"})"), canon(R"({"k":"A"})"));
    EXPECT_NE(canon(R"({"k":null})"), canon(R"({})"));
    EXPECT_NE(canon("true"), canon("1"));
}

TEST(CanonicalJson, NumbersOfOneValueHaveOneText) {
    for (const char* one : {"1", "1.0", "1e0", "10E-1", "0.1e1", "1.000"}) EXPECT_EQ(canon(one), "1") << one;
    EXPECT_EQ(canon("-0"), "0");
    EXPECT_EQ(canon("-0.0"), "0");
    EXPECT_EQ(canon("1.5E+2"), "150");
    EXPECT_EQ(canon("0.000001"), canon("1e-6"));
    EXPECT_EQ(canon("-12.340"), "-12.34");
    EXPECT_EQ(canon("18446744073709551615"), "18446744073709551615");  // beyond int64: exact
    EXPECT_EQ(canon("123456789012345678901234567890"), "123456789012345678901234567890");
    EXPECT_EQ(canon("1e300"), "1e300");  // a huge exponent stays short
    EXPECT_EQ(canon("10e299"), "1e300");
    EXPECT_EQ(canon("0.5e-100"), "5e-101");
    // Beyond a double's range the parser gives up: compared as text then.
    EXPECT_FALSE(canonical_json("1e400").has_value());
}

TEST(CanonicalJson, StringsAreEscapedOneWay) {
    EXPECT_EQ(canon(R"("\u00e9")"), canon("\"\xc3\xa9\""));  // é escaped or not
    EXPECT_EQ(canon(R"("\/")"), canon(R"("/")"));
    EXPECT_EQ(canon(R"("a\"b\\c\n")"), R"("a\"b\\c\n")");
    EXPECT_EQ(canon(R"("\ud83d\ude80")"), "\"\xf0\x9f\x9a\x80\"");  // a surrogate pair is the code point
}

TEST(CanonicalJson, AKeyGivenTwiceKeepsItsLastValueAsJsonbDoes) {
    EXPECT_EQ(canon(R"({"a":1,"b":2,"a":3})"), R"({"a":3,"b":2})");
}

TEST(CanonicalJson, WhatIsNotOneJsonDocumentIsNothing) {
    for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "1 2", "nul", "{'a':1}", "\"\xff\""})
        EXPECT_FALSE(canonical_json(bad).has_value()) << bad;
}

}  // namespace
}  // namespace webook
