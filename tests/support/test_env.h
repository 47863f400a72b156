// What integration tests need from the environment: the addresses of the
// servers scripts/services.sh started (from .run/services.env). A missing
// variable throws, so the test fails with a message saying how to fix it;
// nothing is ever skipped.
#pragma once

#include <memory>
#include <string>

#include "core/db/db.h"
#include "core/db/dsn.h"

namespace webook::testing {

// The value of an environment variable; throws if unset or empty.
std::string require_env(const char* name);

Dsn mysql_dsn();                // WEBOOK_MYSQL_DSN, database `webook`
Dsn mysql_target_dsn();         // WEBOOK_MYSQL_TARGET_DSN, database `webook_target`
Dsn pg_dsn();                   // WEBOOK_PG_DSN
Dsn pg_target_dsn();            // WEBOOK_PG_TARGET_DSN
std::string kafka_bootstrap();  // WEBOOK_KAFKA_BOOTSTRAP

// The servers started with TLS (scripts/services.sh), their throwaway CA,
// an unrelated CA, and a client certificate (CN webook) for the user
// webook_cert, who may log in only with it.
struct TlsEnv {
    Dsn mysql;  // WEBOOK_MYSQL_TLS_DSN, no parameters
    Dsn pg;     // WEBOOK_PG_TLS_DSN, no parameters
    std::string ca, wrong_ca, client_cert, client_key, cert_user;
};
TlsEnv tls_env();

std::unique_ptr<Connection> connect_to(const Dsn& dsn);

// A name unique to this process and call, for tables and topics.
std::string unique_name(const std::string& prefix);

}  // namespace webook::testing
