#include "core/db/dsn.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/base/secrets.h"

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

// The Error that parsing `text` throws; a test failure if it does not throw.
Error parse_error(std::string_view text) {
    try {
        Dsn::parse(text);
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "Dsn::parse accepted '" << text << "'";
    return Error(Code::internal, "no error");
}

TEST(Dsn, ParsesAMysqlDsn) {
    const Dsn d = Dsn::parse("mysql://webook@127.0.0.1:13306/webook");
    EXPECT_EQ(d.engine, Engine::mysql);
    EXPECT_EQ(d.user, "webook");
    EXPECT_EQ(d.password, "");
    EXPECT_FALSE(d.password_in_text);
    EXPECT_EQ(d.host, "127.0.0.1");
    EXPECT_EQ(d.port, 13306);
    EXPECT_EQ(d.database, "webook");
}

TEST(Dsn, MariadbSchemeIsTheMysqlEngine) {
    const Dsn d = Dsn::parse("mariadb://u@db.example.com:3307/app");
    EXPECT_EQ(d.engine, Engine::mysql);
    EXPECT_EQ(d.host, "db.example.com");
    EXPECT_EQ(d.port, 3307);
}

TEST(Dsn, PostgresAndPostgresqlSchemesAreThePostgresEngine) {
    EXPECT_EQ(Dsn::parse("postgres://u@h:15432/app").engine, Engine::postgres);
    EXPECT_EQ(Dsn::parse("postgresql://u@h:15432/app").engine, Engine::postgres);
    EXPECT_EQ(Dsn::parse("postgresql://u@h:15432/app").port, 15432);
}

TEST(Dsn, PortDefaultsToTheEnginesStandardPort) {
    EXPECT_EQ(Dsn::parse("mysql://u@h/db").port, 3306);
    EXPECT_EQ(Dsn::parse("mariadb://u@h/db").port, 3306);
    EXPECT_EQ(Dsn::parse("postgres://u@h/db").port, 5432);
    EXPECT_EQ(Dsn::parse("postgresql://u@h/db").port, 5432);
}

TEST(Dsn, AcceptsBracketedIpv6Hosts) {
    const Dsn d = Dsn::parse("postgres://u@[::1]:5433/db");
    EXPECT_EQ(d.host, "::1");
    EXPECT_EQ(d.port, 5433);
    EXPECT_EQ(d.address(), "[::1]:5433");
    EXPECT_EQ(d.redacted(), "postgres://u@[::1]:5433/db");

    const Dsn no_port = Dsn::parse("postgres://u@[fe80::2]/db");
    EXPECT_EQ(no_port.host, "fe80::2");
    EXPECT_EQ(no_port.port, 5432);
}

TEST(Dsn, DecodesPercentEncodedUserAndPassword) {
    const Dsn d = Dsn::parse("mysql://us%40er:p%3Aw%40rd%2F1@h:3306/db");
    EXPECT_EQ(d.user, "us@er");
    EXPECT_EQ(d.password, "p:w@rd/1");
    EXPECT_TRUE(d.password_in_text);
}

TEST(Dsn, PasswordMayContainAnUnencodedAtSign) {
    const Dsn d = Dsn::parse("mysql://u:p@ss@h:3306/db");
    EXPECT_EQ(d.user, "u");
    EXPECT_EQ(d.password, "p@ss");
    EXPECT_EQ(d.host, "h");
}

TEST(Dsn, RejectsATextWithoutScheme) {
    const Error e = parse_error("webook@127.0.0.1:3306/webook");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "no scheme"));
}

TEST(Dsn, RejectsAnUnknownScheme) {
    const Error e = parse_error("oracle://u@h:1521/db");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(contains(e.what(), "oracle"));
}

TEST(Dsn, RejectsAMissingDatabase) {
    EXPECT_EQ(parse_error("mysql://u@h:3306").code(), Code::config);
    EXPECT_EQ(parse_error("mysql://u@h:3306/").code(), Code::config);
}

TEST(Dsn, RejectsAMissingOrEmptyUser) {
    const Error no_user = parse_error("mysql://h:3306/db");
    EXPECT_EQ(no_user.code(), Code::config);
    EXPECT_TRUE(contains(no_user.what(), "user"));
    EXPECT_EQ(parse_error("mysql://@h:3306/db").code(), Code::config);
    EXPECT_EQ(parse_error("mysql://:secretpw@h:3306/db").code(), Code::config);
}

TEST(Dsn, RejectsAnEmptyHost) {
    EXPECT_EQ(parse_error("mysql://u@:3306/db").code(), Code::config);
    EXPECT_EQ(parse_error("postgres://u@[]:5432/db").code(), Code::config);
}

TEST(Dsn, RejectsPortsOutsideOneTo65535AndNonNumericPorts) {
    for (const char* text : {"mysql://u@h:0/db", "mysql://u@h:70000/db", "mysql://u@h:abc/db", "mysql://u@h:-1/db",
                             "mysql://u@h:33x/db", "postgres://u@[::1]:0/db"}) {
        SCOPED_TRACE(text);
        const Error e = parse_error(text);
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_TRUE(contains(e.what(), "port"));
    }
    EXPECT_EQ(Dsn::parse("mysql://u@h:65535/db").port, 65535);
    EXPECT_EQ(Dsn::parse("mysql://u@h:1/db").port, 1);
}

TEST(Dsn, TakesEachEnginesConnectionParameters) {
    const Dsn pg = Dsn::parse(
        "postgres://u@h:5432/db?sslmode=verify-full&sslrootcert=/etc/ca.pem&sslcert=/c.pem&sslkey=/k.pem"
        "&connect_timeout=7&application_name=mig%20one&options=-c%20work_mem%3D64MB");
    EXPECT_EQ(pg.database, "db");
    EXPECT_EQ(pg.param("sslmode"), "verify-full");
    EXPECT_EQ(pg.param("sslrootcert"), "/etc/ca.pem");
    EXPECT_EQ(pg.param("application_name"), "mig one");
    EXPECT_EQ(pg.param("options"), "-c work_mem=64MB");
    EXPECT_EQ(pg.connect_timeout_seconds(), 7);
    EXPECT_EQ(pg.params.size(), 7u);

    const Dsn my = Dsn::parse("mysql://u@h/db?ssl-mode=verify_identity&ssl-ca=/ca.pem&connect-timeout=3");
    EXPECT_EQ(my.param("ssl-mode"), "VERIFY_IDENTITY") << "any case, kept upper-case";
    EXPECT_EQ(my.connect_timeout_seconds(), 3);
    EXPECT_EQ(Dsn::parse("mysql://u@h/db?socket=/run/mysqld/mysqld.sock").param("socket"), "/run/mysqld/mysqld.sock");
    EXPECT_FALSE(Dsn::parse("mysql://u@h/db").connect_timeout_seconds());
    EXPECT_FALSE(Dsn::parse("mysql://u@h/db").param("ssl-mode"));
}

TEST(Dsn, RefusesUnknownMisspelledAndMalformedParameters) {
    for (auto [text, what] : {
             std::pair{"postgres://u@h/db?ssl-mode=require", "unknown parameter 'ssl-mode' for postgres (known: "},
             {"mysql://u@h/db?sslmode=require", "unknown parameter 'sslmode' for mysql"},
             {"postgres://u@h/db?sslmode=required", "'required', not one of disable|allow|prefer|require"},
             {"mysql://u@h/db?ssl-mode=on", "not one of DISABLED|PREFERRED|REQUIRED|VERIFY_CA|VERIFY_IDENTITY"},
             {"postgres://u@h/db?connect_timeout=5s", "not a whole number of seconds"},
             {"mysql://u@h/db?connect-timeout=0", "not a whole number of seconds"},
             {"postgres://u@h/db?sslmode=", "needs a value"},
             {"postgres://u@h/db?sslmode", "needs a value"},
             {"postgres://u@h/db?sslmode=require&sslmode=disable", "given twice"},
             {"postgres://u@h/db?sslcert=/c.pem", "needs both 'sslcert' and 'sslkey'"},
             {"mysql://u@h/db?ssl-key=/k.pem", "needs both 'ssl-cert' and 'ssl-key'"},
             {"mysql://u@h/db?socket=mysqld.sock", "not an absolute path"},
         }) {
        SCOPED_TRACE(text);
        const Error e = parse_error(text);
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_TRUE(contains(e.what(), what));
    }
}

TEST(Dsn, RedactedKeepsTheParametersAndParsesBack) {
    const Dsn dsn = Dsn::parse("postgres://u:pw@h:5432/db?options=-c%20a%3Db%26c&sslmode=require");
    EXPECT_EQ(dsn.redacted(), "postgres://u@h:5432/db?options=-c%20a%3Db%26c&sslmode=require");
    EXPECT_EQ(Dsn::parse(dsn.redacted()).params, dsn.params);
    EXPECT_EQ(Dsn::parse("mysql://u@h/db").redacted(), "mysql://u@h:3306/db") << "none: as before";
}

TEST(Dsn, APasswordMayHoldAQuestionMarkBeforeTheParameters) {
    const Dsn dsn = Dsn::parse("mysql://u:pa?ss@h:3306/db?ssl-mode=required");
    EXPECT_EQ(dsn.password, "pa?ss");
    EXPECT_EQ(dsn.database, "db");
    EXPECT_EQ(dsn.param("ssl-mode"), "REQUIRED");
}

TEST(Dsn, AFileItNamesMustBeReadable) {
    const std::string missing = "/nonexistent/webookctl-ca.pem";
    try {
        check_dsn_files(Dsn::parse("postgres://u@h/db?sslmode=verify-ca&sslrootcert=" + missing));
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_TRUE(contains(e.what(), "parameter 'sslrootcert' (" + missing + ") cannot be read"));
    }
    EXPECT_NO_THROW(check_dsn_files(Dsn::parse("mysql://u@h/db?ssl-ca=/etc/hostname")));
}

TEST(Dsn, RejectsJunkAfterAnIpv6Address) {
    EXPECT_EQ(parse_error("postgres://u@[::1]x/db").code(), Code::config);
    EXPECT_EQ(parse_error("postgres://u@[::1:5432/db").code(), Code::config);
}

TEST(Dsn, ErrorMessagesNeverContainThePassword) {
    for (const char* text :
         {"mysql://u:s3cretpw@h:99999/db", "mysql://u:s3cretpw@h:3306/db?ssl=1", "oracle://u:s3cretpw@h:1521/db",
          "mysql://u:s3cretpw@h:3306/bad;name", "mysql://u:s3cretpw@:3306/db"}) {
        SCOPED_TRACE(text);
        const Error e = parse_error(text);
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_TRUE(lacks(e.what(), "s3cretpw"));
    }
}

TEST(Dsn, APasswordContainingASlashOrAtIsTakenWhole) {
    // The last '@' ends the user info: an unencoded '/' or '@' in a password
    // is part of it, never taken for the path or echoed as a database name.
    const Dsn d = Dsn::parse("mysql://u:ab/Zx9c@defgh@h:3306/db");
    EXPECT_EQ(d.password, "ab/Zx9c@defgh");
    EXPECT_EQ(d.database, "db");
    EXPECT_TRUE(lacks(d.redacted(), "Zx9c"));
    const Error e = parse_error("mysql://u:ab/Zx9cdefgh@h:99999/db");
    EXPECT_EQ(e.code(), Code::config);
    EXPECT_TRUE(lacks(e.what(), "Zx9cdefgh"));
}

TEST(Dsn, RedactedFormNeverContainsThePassword) {
    const Dsn d = Dsn::parse("mysql://webook:hunter2hunter2@10.0.0.5:3306/webook");
    EXPECT_EQ(d.password, "hunter2hunter2");
    EXPECT_EQ(d.redacted(), "mysql://webook@10.0.0.5:3306/webook");
    EXPECT_TRUE(lacks(d.redacted(), "hunter2"));
    EXPECT_EQ(d.address(), "10.0.0.5:3306");
}

TEST(Dsn, RedactedFormUsesTheCanonicalSchemeAndExplicitPort) {
    EXPECT_EQ(Dsn::parse("postgresql://u@h/db").redacted(), "postgres://u@h:5432/db");
    EXPECT_EQ(Dsn::parse("mariadb://u@h/db").redacted(), "mysql://u@h:3306/db");
}

TEST(Dsn, APasswordWrittenInTheDsnIsRegisteredAsASecret) {
    Dsn::parse("mysql://u:InDsnPw_4471@h:3306/db");
    EXPECT_EQ(redact("auth failed for InDsnPw_4471"), "auth failed for ***");
}

TEST(Dsn, EngineNamesAreMysqlAndPostgres) {
    EXPECT_EQ(engine_name(Engine::mysql), "mysql");
    EXPECT_EQ(engine_name(Engine::postgres), "postgres");
}

// resolve_password reads the process environment: each test starts with the
// three variables unset and the fixture puts back what was there.
class ResolvePassword : public ::testing::Test {
protected:
    static constexpr const char* k_vars[] = {"WEBOOKCTL_SOURCE_PASSWORD", "WEBOOKCTL_TARGET_PASSWORD",
                                             "WEBOOKCTL_PASSWORD"};

    void SetUp() override {
        for (std::size_t i = 0; i < std::size(k_vars); ++i) {
            const char* v = std::getenv(k_vars[i]);
            m_saved[i] = v ? std::optional<std::string>(v) : std::nullopt;
            ::unsetenv(k_vars[i]);
        }
        m_dir =
            std::filesystem::temp_directory_path() / ("webook_dsn_test_" + std::to_string(::getpid()) + "_" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(m_dir);
    }

    void TearDown() override {
        for (std::size_t i = 0; i < std::size(k_vars); ++i) {
            if (m_saved[i])
                ::setenv(k_vars[i], m_saved[i]->c_str(), 1);
            else
                ::unsetenv(k_vars[i]);
        }
        std::filesystem::remove_all(m_dir);
    }

    std::string write_file(const std::string& name, const std::string& body) {
        const auto path = m_dir / name;
        std::ofstream(path, std::ios::binary) << body;
        return path.string();
    }

    std::optional<std::string> m_saved[std::size(k_vars)];
    std::filesystem::path m_dir;
};

TEST_F(ResolvePassword, APasswordInTheDsnWinsOverEverythingElse) {
    ::setenv("WEBOOKCTL_SOURCE_PASSWORD", "from-role-env", 1);
    ::setenv("WEBOOKCTL_PASSWORD", "from-general-env", 1);
    const std::string file = write_file("pw", "from-file\n");
    Dsn d = Dsn::parse("mysql://u:from-dsn-pw@h:3306/db");
    resolve_password(d, DsnRole::source, file);
    EXPECT_EQ(d.password, "from-dsn-pw");
}

TEST_F(ResolvePassword, TheRolesVariableWinsOverTheGeneralOne) {
    ::setenv("WEBOOKCTL_SOURCE_PASSWORD", "src-role-pw", 1);
    ::setenv("WEBOOKCTL_TARGET_PASSWORD", "dst-role-pw", 1);
    ::setenv("WEBOOKCTL_PASSWORD", "general-pw", 1);

    Dsn source = Dsn::parse("mysql://u@h:3306/db");
    resolve_password(source, DsnRole::source);
    EXPECT_EQ(source.password, "src-role-pw");

    Dsn target = Dsn::parse("postgres://u@h:5432/db");
    resolve_password(target, DsnRole::target);
    EXPECT_EQ(target.password, "dst-role-pw");
}

TEST_F(ResolvePassword, ARoleOfAnyUsesOnlyTheGeneralVariable) {
    ::setenv("WEBOOKCTL_SOURCE_PASSWORD", "src-role-pw", 1);
    ::setenv("WEBOOKCTL_TARGET_PASSWORD", "dst-role-pw", 1);
    ::setenv("WEBOOKCTL_PASSWORD", "general-pw", 1);
    Dsn d = Dsn::parse("mysql://u@h:3306/db");
    resolve_password(d, DsnRole::any);
    EXPECT_EQ(d.password, "general-pw");
}

TEST_F(ResolvePassword, TheOtherRolesVariableIsNotUsed) {
    ::setenv("WEBOOKCTL_TARGET_PASSWORD", "dst-role-pw", 1);
    Dsn d = Dsn::parse("mysql://u@h:3306/db");
    resolve_password(d, DsnRole::source);
    EXPECT_EQ(d.password, "");
}

TEST_F(ResolvePassword, TheGeneralVariableWinsOverThePasswordFile) {
    ::setenv("WEBOOKCTL_PASSWORD", "general-pw", 1);
    const std::string file = write_file("pw", "from-file\n");
    Dsn d = Dsn::parse("mysql://u@h:3306/db");
    resolve_password(d, DsnRole::target, file);
    EXPECT_EQ(d.password, "general-pw");
}

TEST_F(ResolvePassword, AnEmptyVariableCountsAsUnset) {
    ::setenv("WEBOOKCTL_SOURCE_PASSWORD", "", 1);
    ::setenv("WEBOOKCTL_PASSWORD", "general-pw", 1);
    Dsn d = Dsn::parse("mysql://u@h:3306/db");
    resolve_password(d, DsnRole::source);
    EXPECT_EQ(d.password, "general-pw");
}

TEST_F(ResolvePassword, ThePasswordFileIsUsedLastAndOnlyItsFirstLineIsRead) {
    const std::string file = write_file("pw", "file-pw-line1\r\nsecond line\n");
    Dsn d = Dsn::parse("mysql://u@h:3306/db");
    resolve_password(d, DsnRole::source, file);
    EXPECT_EQ(d.password, "file-pw-line1");
}

TEST_F(ResolvePassword, APasswordFileWithoutTrailingNewlineIsReadWhole) {
    const std::string file = write_file("pw", "no-newline-pw");
    Dsn d = Dsn::parse("postgres://u@h:5432/db");
    resolve_password(d, DsnRole::target, file);
    EXPECT_EQ(d.password, "no-newline-pw");
}

TEST_F(ResolvePassword, NoSourceLeavesThePasswordEmpty) {
    Dsn d = Dsn::parse("mysql://u@h:3306/db");
    resolve_password(d, DsnRole::source);
    EXPECT_EQ(d.password, "");
}

TEST_F(ResolvePassword, AnUnreadablePasswordFileIsAConfigError) {
    Dsn d = Dsn::parse("mysql://u@h:3306/db");
    const std::string missing = (m_dir / "does-not-exist").string();
    try {
        resolve_password(d, DsnRole::source, missing);
        FAIL() << "an unreadable password_file was accepted";
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config);
        EXPECT_TRUE(contains(e.what(), missing));
    }
}

TEST_F(ResolvePassword, AnUnreadablePasswordFileIsIgnoredWhenAVariableIsSet) {
    ::setenv("WEBOOKCTL_SOURCE_PASSWORD", "src-role-pw", 1);
    Dsn d = Dsn::parse("mysql://u@h:3306/db");
    EXPECT_NO_THROW(resolve_password(d, DsnRole::source, (m_dir / "does-not-exist").string()));
    EXPECT_EQ(d.password, "src-role-pw");
}

TEST_F(ResolvePassword, APasswordFromTheEnvironmentIsRedacted) {
    ::setenv("WEBOOKCTL_TARGET_PASSWORD", "EnvPw_90817", 1);
    Dsn d = Dsn::parse("postgres://u@h:5432/db");
    resolve_password(d, DsnRole::target);
    EXPECT_EQ(redact("password EnvPw_90817 rejected"), "password *** rejected");
}

TEST_F(ResolvePassword, APasswordFromTheFileIsRedacted) {
    const std::string file = write_file("pw", "FilePw_55123\n");
    Dsn d = Dsn::parse("postgres://u@h:5432/db");
    resolve_password(d, DsnRole::target, file);
    EXPECT_EQ(redact("password FilePw_55123 rejected"), "password *** rejected");
}

}  // namespace
}  // namespace webook
