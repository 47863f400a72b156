#include "core/base/error.h"

#include <stdexcept>
#include <string>

#include <gtest/gtest.h>

namespace webook {
namespace {

TEST(ExitCode, UsageAndConfigErrorsExitWithTwo) {
    EXPECT_EQ(exit_code_for(Code::usage), 2);
    EXPECT_EQ(exit_code_for(Code::config), 2);
}

TEST(ExitCode, ConnectionServerAndDataErrorsExitWithThree) {
    EXPECT_EQ(exit_code_for(Code::connection), 3);
    EXPECT_EQ(exit_code_for(Code::server), 3);
    EXPECT_EQ(exit_code_for(Code::data), 3);
}

TEST(ExitCode, InternalErrorsExitWithFour) {
    EXPECT_EQ(exit_code_for(Code::internal), 4);
}

TEST(ExitCode, InterruptionExitsWith130) {
    EXPECT_EQ(exit_code_for(Code::interrupted), 130);
}

TEST(ExitCode, NamedConstantsMatchTheDocumentedStatuses) {
    EXPECT_EQ(k_exit_ok, 0);
    EXPECT_EQ(k_exit_findings, 1);
    EXPECT_EQ(k_exit_usage, 2);
    EXPECT_EQ(k_exit_connection, 3);
    EXPECT_EQ(k_exit_internal, 4);
    EXPECT_EQ(k_exit_interrupted, 130);
}

TEST(Error, EveryCodeHasItsOwnName) {
    EXPECT_EQ(code_name(Code::usage), "usage");
    EXPECT_EQ(code_name(Code::config), "config");
    EXPECT_EQ(code_name(Code::connection), "connection");
    EXPECT_EQ(code_name(Code::server), "server");
    EXPECT_EQ(code_name(Code::data), "data");
    EXPECT_EQ(code_name(Code::internal), "internal");
    EXPECT_EQ(code_name(Code::interrupted), "interrupted");
}

TEST(Error, IsPermanentUnlessMarkedTemporary) {
    EXPECT_FALSE(Error(Code::server, "syntax error").is_temporary());
    EXPECT_TRUE(Error(Code::server, "deadlock", Temporary::yes).is_temporary());
}

TEST(Error, ContextPrependsWhatFailedAndKeepsTheCode) {
    const Error inner(Code::server, "target query failed: deadlock", Temporary::yes);
    const Error outer = inner.context("validating interactives at id 1234");
    EXPECT_STREQ(outer.what(), "validating interactives at id 1234: target query failed: deadlock");
    EXPECT_EQ(outer.code(), Code::server);
    EXPECT_TRUE(outer.is_temporary());
    EXPECT_STREQ(inner.what(), "target query failed: deadlock");  // the original is unchanged
}

TEST(Error, ContextKeepsAPermanentErrorPermanent) {
    const Error outer = Error(Code::config, "bad table").context("planning");
    EXPECT_EQ(outer.code(), Code::config);
    EXPECT_FALSE(outer.is_temporary());
}

TEST(Error, ContextsNestOutermostFirst) {
    const Error e = Error(Code::data, "bad row").context("reading").context("copying users");
    EXPECT_STREQ(e.what(), "copying users: reading: bad row");
}

TEST(WithContext, ReturnsTheResultWhenNothingThrows) {
    EXPECT_EQ(with_context("computing", [] { return 42; }), 42);
    std::string s = "abc";
    std::string& ref = with_context("borrowing", [&]() -> std::string& { return s; });
    EXPECT_EQ(&ref, &s);
}

TEST(WithContext, RethrowsAnErrorWithTheContextPrepended) {
    try {
        with_context("copying users",
                     []() -> int { throw Error(Code::connection, "connection refused", Temporary::yes); });
        FAIL() << "with_context swallowed the error";
    } catch (const Error& e) {
        EXPECT_STREQ(e.what(), "copying users: connection refused");
        EXPECT_EQ(e.code(), Code::connection);
        EXPECT_TRUE(e.is_temporary());
    }
}

TEST(WithContext, LetsOtherExceptionsThroughUnchanged) {
    try {
        with_context("copying users", []() -> int { throw std::out_of_range("index 7"); });
        FAIL() << "with_context swallowed the exception";
    } catch (const Error&) {
        FAIL() << "a non-Error exception was turned into an Error";
    } catch (const std::out_of_range& e) {
        EXPECT_STREQ(e.what(), "index 7");
    }
}

}  // namespace
}  // namespace webook
