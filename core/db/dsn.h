// Data source names and where their passwords come from.
//
//   mysql://user@host:port/db       (MariaDB/MySQL, default port 3306)
//   postgres://user@host:port/db    (also postgresql://, default port 5432)
//
// The password is not part of a DSN in normal use: it comes from
// WEBOOKCTL_SOURCE_PASSWORD / WEBOOKCTL_TARGET_PASSWORD / WEBOOKCTL_PASSWORD
// or a password_file. A password written inside the DSN
// (user:secret@host) still works, but a warning is logged; it is registered
// as a secret either way, so it is redacted from every log line and error.
#pragma once

#include <string>
#include <string_view>

namespace webook {

enum class Engine { mysql, postgres };

std::string_view engine_name(Engine engine);

struct Dsn {
    Engine engine = Engine::mysql;
    std::string user;
    std::string password;
    std::string host;
    int port = 0;
    std::string database;
    bool password_in_text = false;  // the password was written in the DSN itself

    // Throws Error(Code::config) naming what is wrong (without the password).
    static Dsn parse(std::string_view text);

    // "mysql://user@host:port/db": safe for logs and errors.
    std::string redacted() const;
    // "host:port", for messages about reachability.
    std::string address() const;
};

// Which role a connection plays, to pick the password variable.
enum class DsnRole { source, target, any };

// Fills dsn.password, in order of precedence: the password already in the
// DSN (warned about), the role's environment variable
// (WEBOOKCTL_SOURCE_PASSWORD / WEBOOKCTL_TARGET_PASSWORD), WEBOOKCTL_PASSWORD,
// then `password_file` (first line, trailing newline stripped) if not empty.
// Throws Error(Code::config) if the file cannot be read.
void resolve_password(Dsn& dsn, DsnRole role, const std::string& password_file = {});

}  // namespace webook
