// DSN connection parameters against real servers: the TLS instances
// scripts/services.sh starts with a throwaway CA, and the main instances,
// which have no TLS. For each engine: a required TLS session is encrypted,
// a verified one checks the CA (the wrong CA fails), a client certificate
// logs in, a server without TLS refuses a session that requires it, and a
// disabled mode stays in plain text. Through the CLI: exit 3 with one line.
#include <gtest/gtest.h>

#include <string>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/db/dsn.h"
#include "tests/support/cli_run.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using testing::expect_one_error;
using testing::tls_env;
using testing::TlsEnv;
using testing::webookctl;

// `base` (its password kept) with these query parameters.
Dsn with(const Dsn& base, const std::string& query, const std::string& user = "") {
    Dsn d = base;
    if (!user.empty()) d.user = user;
    Dsn out = Dsn::parse(d.redacted() + "?" + query);
    out.password = base.password;
    return out;
}

// Whether the session is encrypted, as the server sees it.
bool encrypted(Connection& conn) {
    if (conn.dialect().engine() == Engine::postgres)
        return conn.query_one("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")->at(0).as_bool();
    auto row = conn.query_one("SHOW SESSION STATUS LIKE 'Ssl_version'");
    return row && !row->at(1).as_string().empty();
}

// The Error connecting to `dsn` throws; a test failure if it connects.
Error connect_error(const Dsn& dsn) {
    try {
        connect(dsn);
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "connected to " << dsn.redacted();
    return Error(Code::internal, "connected");
}

void expect_refused(const Dsn& dsn, const std::string& what) {
    SCOPED_TRACE(dsn.redacted());
    const Error e = connect_error(dsn);
    EXPECT_EQ(e.code(), Code::connection) << e.what();
    EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
}

TEST(TlsPostgres, EachSslmodeDoesWhatItSays) {
    const TlsEnv t = tls_env();
    EXPECT_TRUE(encrypted(*connect(with(t.pg, "sslmode=require"))));
    EXPECT_TRUE(encrypted(*connect(with(t.pg, "sslmode=verify-full&sslrootcert=" + t.ca))));
    EXPECT_TRUE(encrypted(*connect(with(t.pg, "sslmode=verify-ca&sslrootcert=" + t.ca))));
    EXPECT_FALSE(encrypted(*connect(with(t.pg, "sslmode=disable"))));
    expect_refused(with(t.pg, "sslmode=verify-full&sslrootcert=" + t.wrong_ca), "certificate verify failed");
    expect_refused(with(testing::pg_dsn(), "sslmode=require"), "server does not support SSL");
    // The main server, without TLS, still takes a session that only prefers it.
    EXPECT_FALSE(encrypted(*connect(with(testing::pg_dsn(), "sslmode=prefer"))));
}

TEST(TlsPostgres, AClientCertificateLogsIn) {
    const TlsEnv t = tls_env();
    const std::string verified = "sslmode=verify-full&sslrootcert=" + t.ca;
    auto conn = connect(with(t.pg, verified + "&sslcert=" + t.client_cert + "&sslkey=" + t.client_key, t.cert_user));
    EXPECT_EQ(conn->query_one("SELECT current_user")->at(0).as_string(), t.cert_user);
    expect_refused(with(t.pg, verified, t.cert_user), "certificate");
}

TEST(TlsPostgres, TheDsnsOptionsAndApplicationNameReachTheSession) {
    auto conn = connect(
        with(testing::pg_dsn(), "application_name=webookctl-probe&options=-c%20work_mem%3D7MB&connect_timeout=3"));
    EXPECT_EQ(conn->query_one("SHOW work_mem")->at(0).as_string(), "7MB");
    EXPECT_EQ(conn->query_one("SHOW application_name")->at(0).as_string(), "webookctl-probe");
    EXPECT_EQ(conn->query_one("SHOW TimeZone")->at(0).as_string(), "UTC") << "ours come after the DSN's";
    auto utc = connect(with(testing::pg_dsn(), "options=-c%20TimeZone%3DEurope/Paris"));
    EXPECT_EQ(utc->query_one("SHOW TimeZone")->at(0).as_string(), "UTC") << "and win";
}

TEST(TlsMysql, EachSslModeDoesWhatItSays) {
    const TlsEnv t = tls_env();
    EXPECT_TRUE(encrypted(*connect(with(t.mysql, "ssl-mode=REQUIRED"))));
    EXPECT_TRUE(encrypted(*connect(with(t.mysql, "ssl-mode=PREFERRED"))));
    EXPECT_TRUE(encrypted(*connect(with(t.mysql, "ssl-mode=VERIFY_IDENTITY&ssl-ca=" + t.ca))));
    EXPECT_TRUE(encrypted(*connect(with(t.mysql, "ssl-mode=verify_ca&ssl-ca=" + t.ca))));
    EXPECT_FALSE(encrypted(*connect(with(t.mysql, "ssl-mode=DISABLED"))));
    EXPECT_FALSE(encrypted(*connect(t.mysql))) << "no parameter: the library's default, plain text";
    expect_refused(with(t.mysql, "ssl-mode=VERIFY_IDENTITY&ssl-ca=" + t.wrong_ca), "certificate");
    expect_refused(with(t.mysql, "ssl-mode=REQUIRED&ssl-ca=" + t.wrong_ca), "certificate");
    // The main server has no TLS.
    expect_refused(with(testing::mysql_dsn(), "ssl-mode=REQUIRED"), "did not encrypt the session");
    expect_refused(with(testing::mysql_dsn(), "ssl-mode=VERIFY_IDENTITY&ssl-ca=" + t.ca),
                   "the server does not support it");
    EXPECT_FALSE(encrypted(*connect(with(testing::mysql_dsn(), "ssl-mode=PREFERRED"))));
}

TEST(TlsMysql, AClientCertificateLogsIn) {
    const TlsEnv t = tls_env();
    const std::string verified = "ssl-mode=VERIFY_IDENTITY&ssl-ca=" + t.ca;
    auto conn =
        connect(with(t.mysql, verified + "&ssl-cert=" + t.client_cert + "&ssl-key=" + t.client_key, t.cert_user));
    EXPECT_EQ(conn->query_one("SELECT SUBSTRING_INDEX(CURRENT_USER(), '@', 1)")->at(0).as_string(), t.cert_user);
    expect_refused(with(t.mysql, verified, t.cert_user), "access denied");
}

TEST(TlsMysql, ASocketReplacesTheHostAndPort) {
    Dsn d = testing::mysql_dsn();
    d.host = "nowhere.invalid";
    d.port = 1;
    auto conn = connect(with(d, "socket=" + testing::require_env("WEBOOK_MYSQL_SOCKET")));
    EXPECT_EQ(conn->query_one("SELECT 1")->at(0).as_int(), 1);
}

// What an operator sees: one line, exit 3 for a server that fails the
// verification, exit 2 for a parameter that does not exist or a CA file
// that is not there -- before anything is written.
TEST(TlsCli, AFailedVerificationIsOneLineAndExitThree) {
    const TlsEnv t = tls_env();
    expect_one_error(
        webookctl({"db", "counts", "--dsn", with(t.pg, "sslmode=verify-full&sslrootcert=" + t.wrong_ca).redacted()}), 3,
        "certificate verify failed");
    expect_one_error(
        webookctl({"db", "counts", "--dsn", with(t.mysql, "ssl-mode=VERIFY_IDENTITY&ssl-ca=" + t.wrong_ca).redacted()}),
        3, "certificate");
    expect_one_error(webookctl({"db", "counts", "--dsn", t.mysql.redacted() + "?sslmode=require"}), 2,
                     "unknown parameter 'sslmode' for mysql");
    expect_one_error(
        webookctl({"db", "counts", "--dsn", t.pg.redacted() + "?sslmode=verify-full&sslrootcert=/no/ca.pem"}), 2,
        "parameter 'sslrootcert' (/no/ca.pem) cannot be read");
}

}  // namespace
}  // namespace webook
