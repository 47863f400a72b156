#include "tests/support/test_env.h"

#include <unistd.h>
#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace webook::testing {

std::string require_env(const char* name) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0')
        throw std::runtime_error(std::string(name) +
                                 " is not set: run scripts/services.sh start and "
                                 "source .run/services.env (scripts/test.sh does both)");
    return v;
}

namespace {
Dsn dsn_from(const char* var) {
    Dsn dsn = Dsn::parse(require_env(var));
    resolve_password(dsn, DsnRole::any);
    return dsn;
}
}  // namespace

Dsn mysql_dsn() {
    return dsn_from("WEBOOK_MYSQL_DSN");
}
Dsn mysql_target_dsn() {
    return dsn_from("WEBOOK_MYSQL_TARGET_DSN");
}
Dsn pg_dsn() {
    return dsn_from("WEBOOK_PG_DSN");
}
Dsn pg_target_dsn() {
    return dsn_from("WEBOOK_PG_TARGET_DSN");
}
std::string kafka_bootstrap() {
    return require_env("WEBOOK_KAFKA_BOOTSTRAP");
}
TlsEnv tls_env() {
    return {dsn_from("WEBOOK_MYSQL_TLS_DSN"),      dsn_from("WEBOOK_PG_TLS_DSN"),
            require_env("WEBOOK_TLS_CA"),          require_env("WEBOOK_TLS_WRONG_CA"),
            require_env("WEBOOK_TLS_CLIENT_CERT"), require_env("WEBOOK_TLS_CLIENT_KEY"),
            require_env("WEBOOK_TLS_CERT_USER")};
}

std::unique_ptr<Connection> connect_to(const Dsn& dsn) {
    return connect(dsn);
}

std::string unique_name(const std::string& prefix) {
    static std::atomic<int> counter{0};
    return prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
}

}  // namespace webook::testing
