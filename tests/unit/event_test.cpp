#include "core/migration/event.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <regex>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "core/base/error.h"

namespace webook {
namespace {

::testing::AssertionResult contains(std::string_view haystack, std::string_view needle) {
    if (haystack.find(needle) != std::string_view::npos) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "'" << haystack << "' does not contain '" << needle << "'";
}

InconsistencyEvent sample_event() {
    InconsistencyEvent e;
    e.table = "interactives";
    e.key_columns = {"id"};
    e.key = {Value::integer(42)};
    e.type = EventType::neq;
    e.base = BaseSide::src;
    e.detected_at = "2026-11-22T03:04:05.123456Z";
    e.validator = "full";
    return e;
}

// name -> canonical text of each key value, to compare keys whatever their order.
std::map<std::string, std::string> key_map(const InconsistencyEvent& e) {
    std::map<std::string, std::string> out;
    for (std::size_t i = 0; i < e.key_columns.size(); ++i) out[e.key_columns[i]] = e.key.at(i).display();
    return out;
}

Error parse_error(std::string_view json) {
    try {
        InconsistencyEvent::parse(json);
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "parse accepted " << json;
    return Error(Code::internal, "no error");
}

TEST(Event, ToJsonWritesTheDocumentedFieldsInOrder) {
    EXPECT_EQ(sample_event().to_json(), R"({"table":"interactives","key":{"id":42},"type":"neq","base":"src",)"
                                        R"("detected_at":"2026-11-22T03:04:05.123456Z","validator":"full"})");
}

// A neq names its differing columns; with values (--event-values) both
// sides' values follow. Parsing reads the columns and never needs them.
TEST(Event, ANeqNamesItsColumnsAndValuesOnlyWhenAsked) {
    InconsistencyEvent e = sample_event();
    e.columns = {"like_cnt", "title"};
    EXPECT_TRUE(contains(e.to_json(), R"("validator":"full","columns":["like_cnt","title"]})"));
    EXPECT_FALSE(contains(e.to_json(), "values"));
    e.values = {{Value::integer(3), Value::integer(4)}, {Value::text("a"), Value()}};
    EXPECT_TRUE(
        contains(e.to_json(), R"("values":{"like_cnt":{"base":3,"other":4},"title":{"base":"a","other":null}}})"));
    const InconsistencyEvent back = InconsistencyEvent::parse(e.to_json());
    EXPECT_EQ(back.columns, e.columns);
    EXPECT_EQ(InconsistencyEvent::parse(sample_event().to_json()).columns.size(), 0u);
    // A malformed informational field is no reason to refuse the event.
    EXPECT_NO_THROW(InconsistencyEvent::parse(R"({"table":"t","key":{"id":1},"type":"neq","base":"src",)"
                                              R"("columns":"like_cnt"})"));
}

TEST(Event, ToJsonNamesEveryTypeAndBase) {
    InconsistencyEvent e = sample_event();
    e.type = EventType::target_missing;
    e.base = BaseSide::dst;
    EXPECT_TRUE(contains(e.to_json(), R"("type":"target_missing","base":"dst")"));
    e.type = EventType::base_missing;
    EXPECT_TRUE(contains(e.to_json(), R"("type":"base_missing")"));
    EXPECT_EQ(event_type_name(EventType::neq), "neq");
    EXPECT_EQ(base_side_name(BaseSide::src), "src");
}

TEST(Event, ToJsonKeepsCompositeKeyColumnsInKeyOrder) {
    InconsistencyEvent e = sample_event();
    e.key_columns = {"biz_id", "biz"};
    e.key = {Value::integer(7), Value::text("article")};
    EXPECT_TRUE(contains(e.to_json(), R"("key":{"biz_id":7,"biz":"article"})"));
}

TEST(Event, RoundTripsAnIntegerKey) {
    const InconsistencyEvent in = sample_event();
    const InconsistencyEvent out = InconsistencyEvent::parse(in.to_json());
    EXPECT_EQ(out.table, "interactives");
    ASSERT_EQ(out.key_columns, std::vector<std::string>{"id"});
    ASSERT_EQ(out.key.size(), 1u);
    EXPECT_EQ(out.key[0].kind(), ValueKind::integer);
    EXPECT_EQ(out.key[0].as_int(), 42);
    EXPECT_EQ(out.type, EventType::neq);
    EXPECT_EQ(out.base, BaseSide::src);
    EXPECT_EQ(out.detected_at, "2026-11-22T03:04:05.123456Z");
    EXPECT_EQ(out.validator, "full");
    EXPECT_EQ(out.to_json(), in.to_json());
}

TEST(Event, RoundTripsEveryTypeAndBase) {
    for (EventType type : {EventType::target_missing, EventType::neq, EventType::base_missing}) {
        for (BaseSide base : {BaseSide::src, BaseSide::dst}) {
            InconsistencyEvent e = sample_event();
            e.type = type;
            e.base = base;
            const InconsistencyEvent out = InconsistencyEvent::parse(e.to_json());
            EXPECT_EQ(out.type, type);
            EXPECT_EQ(out.base, base);
        }
    }
}

TEST(Event, RoundTripsACompositeKeyByName) {
    InconsistencyEvent e = sample_event();
    e.key_columns = {"biz_id", "biz", "uid"};
    e.key = {Value::integer(-7), Value::text("article"), Value::integer(std::numeric_limits<std::int64_t>::min())};
    const InconsistencyEvent out = InconsistencyEvent::parse(e.to_json());
    EXPECT_EQ(key_map(out), key_map(e));
    ASSERT_EQ(out.key.size(), 3u);
    for (std::size_t i = 0; i < out.key.size(); ++i) {
        if (out.key_columns[i] == "biz")
            EXPECT_EQ(out.key[i].kind(), ValueKind::text);
        else
            EXPECT_EQ(out.key[i].kind(), ValueKind::integer);
    }
}

TEST(Event, RoundTripsTextKeysWithUnicodeQuotesAndBackslashes) {
    const std::string tricky = "caf\xC3\xA9 \"quoted\" \\ back/slash \xF0\x9F\x98\x80 tab\t";
    InconsistencyEvent e = sample_event();
    e.key_columns = {"slug"};
    e.key = {Value::text(tricky)};
    const std::string json = e.to_json();
    const InconsistencyEvent out = InconsistencyEvent::parse(json);
    ASSERT_EQ(out.key.size(), 1u);
    EXPECT_EQ(out.key[0].kind(), ValueKind::text);
    EXPECT_EQ(out.key[0].as_string(), tricky);
}

TEST(Event, RoundTripsUnsignedKeysAboveInt64) {
    InconsistencyEvent e = sample_event();
    e.key = {Value::unsigned_integer(18446744073709551615ULL)};
    const std::string json = e.to_json();
    EXPECT_TRUE(contains(json, R"("id":18446744073709551615)"));
    const InconsistencyEvent out = InconsistencyEvent::parse(json);
    ASSERT_EQ(out.key.size(), 1u);
    EXPECT_EQ(out.key[0].kind(), ValueKind::unsigned_integer);
    EXPECT_EQ(out.key[0].as_uint(), 18446744073709551615ULL);
}

TEST(Event, BytesKeysAreWrittenAsBackslashXHex) {
    InconsistencyEvent e = sample_event();
    e.key_columns = {"hash"};
    e.key = {Value::bytes(std::string("\x00\xff\x10", 3))};
    const std::string json = e.to_json();
    EXPECT_TRUE(contains(json, R"("key":{"hash":"\\x00ff10"})"));
    const InconsistencyEvent out = InconsistencyEvent::parse(json);
    EXPECT_EQ(out.key.at(0).as_string(), "\\x00ff10");
}

TEST(Event, ParseAcceptsMissingDetectedAtAndValidator) {
    const InconsistencyEvent e =
        InconsistencyEvent::parse(R"({"table":"t","key":{"id":"abc"},"type":"base_missing","base":"dst"})");
    EXPECT_EQ(e.table, "t");
    EXPECT_EQ(e.type, EventType::base_missing);
    EXPECT_EQ(e.base, BaseSide::dst);
    EXPECT_EQ(e.detected_at, "");
    EXPECT_EQ(e.validator, "");
    ASSERT_EQ(e.key.size(), 1u);
    EXPECT_EQ(e.key[0].kind(), ValueKind::text);
    EXPECT_EQ(e.key[0].as_string(), "abc");
}

TEST(Event, ParseRejectsMalformedEventsAsDataErrors) {
    for (const char* json : {
             "not json at all",
             "",
             R"([1, 2])",
             R"("just a string")",
             R"({"key":{"id":1},"type":"neq","base":"src"})",                  // no table
             R"({"table":"","key":{"id":1},"type":"neq","base":"src"})",       // empty table
             R"({"table":7,"key":{"id":1},"type":"neq","base":"src"})",        // table not a string
             R"({"table":"t","key":{"id":1},"base":"src"})",                   // no type
             R"({"table":"t","key":{"id":1},"type":"neq"})",                   // no base
             R"({"table":"t","type":"neq","base":"src"})",                     // no key
             R"({"table":"t","key":{},"type":"neq","base":"src"})",            // empty key
             R"({"table":"t","key":[1],"type":"neq","base":"src"})",           // key not an object
             R"({"table":"t","key":{"id":1},"type":"missing","base":"src"})",  // unknown type
             R"({"table":"t","key":{"id":1},"type":"neq","base":"both"})",     // unknown base
             R"({"table":"t","key":{"id":1.5},"type":"neq","base":"src"})",    // float key
             R"({"table":"t","key":{"id":null},"type":"neq","base":"src"})",   // null key
             R"({"table":"t","key":{"id":true},"type":"neq","base":"src"})",   // bool key
             R"({"table":"t","key":{"id":[1]},"type":"neq","base":"src"})",    // array key
             // a non-string optional field
             R"({"table":"t","key":{"id":1},"type":"neq","base":"src","validator":3})",
         }) {
        SCOPED_TRACE(json);
        const Error e = parse_error(json);
        EXPECT_EQ(e.code(), Code::data);
        EXPECT_TRUE(contains(e.what(), "malformed event"));
    }
}

TEST(Event, ParseErrorsNameTheProblem) {
    EXPECT_TRUE(contains(parse_error(R"({"table":"t","key":{"id":1},"type":"gone","base":"src"})").what(), "gone"));
    EXPECT_TRUE(contains(parse_error(R"({"table":"t","key":{"id":1.5},"type":"neq","base":"src"})").what(),
                         "neither an integer nor a string"));
    EXPECT_TRUE(contains(parse_error(R"({"key":{"id":1},"type":"neq","base":"src"})").what(), "table"));
}

TEST(Event, MessageKeyIsTheTableAndKey) {
    InconsistencyEvent e = sample_event();
    EXPECT_EQ(e.message_key(), "interactives/42");
    e.key_columns = {"biz", "biz_id"};
    e.key = {Value::text("article"), Value::integer(7)};
    EXPECT_EQ(e.message_key(), "interactives/article/7");
}

TEST(Event, MessageKeyDependsOnlyOnTheRow) {
    InconsistencyEvent a = sample_event();
    InconsistencyEvent b = sample_event();
    b.type = EventType::target_missing;
    b.base = BaseSide::dst;
    b.detected_at = "2030-01-01T00:00:00.000000Z";
    b.validator = "incremental";
    EXPECT_EQ(a.message_key(), b.message_key());  // one row, one partition
    EXPECT_EQ(a.message_key(), a.message_key());
}

TEST(Event, MessageKeyDiffersForDifferentRows) {
    InconsistencyEvent a = sample_event();
    InconsistencyEvent b = sample_event();
    b.key = {Value::integer(43)};
    EXPECT_NE(a.message_key(), b.message_key());
    InconsistencyEvent c = sample_event();
    c.table = "users";
    EXPECT_NE(a.message_key(), c.message_key());
}

TEST(Event, UtcNowIsIso8601WithMicrosecondsAndZ) {
    const std::string now = utc_now_iso();
    EXPECT_TRUE(std::regex_match(now, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)"))) << now;
}

TEST(Event, UtcNowIsTheCurrentTime) {
    std::string now = utc_now_iso();
    ASSERT_EQ(now.size(), 27u) << now;
    now[10] = ' ';
    now.pop_back();
    const std::int64_t micros = Value::parse(ValueKind::datetime, now).micros();
    const std::int64_t expected =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    EXPECT_LT(std::llabs(expected - micros), 5'000'000) << now;
}

}  // namespace
}  // namespace webook
