// Data source names and where their passwords come from.
//
//   mysql://user@host:port/db       (MariaDB/MySQL, default port 3306)
//   postgres://user@host:port/db    (also postgresql://, default port 5432)
//
// Connection options follow as query parameters, ?key=value&key=value (a
// value percent-encoded where it holds '&', '=', '@', '#' or '%'); each
// engine takes its own client's names, and anything else is refused:
//   PostgreSQL: sslmode (disable|allow|prefer|require|verify-ca|verify-full),
//               sslrootcert, sslcert, sslkey (files), connect_timeout
//               (seconds), application_name, options (libpq's: -c name=value
//               settings; webookctl's own session settings come after them)
//   MySQL:      ssl-mode (DISABLED|PREFERRED|REQUIRED|VERIFY_CA|
//               VERIFY_IDENTITY, any case), ssl-ca, ssl-cert, ssl-key
//               (files), socket (a Unix socket path: the host and port are
//               then not used), connect-timeout (seconds)
//
// The password is not part of a DSN in normal use: it comes from
// WEBOOKCTL_SOURCE_PASSWORD / WEBOOKCTL_TARGET_PASSWORD / WEBOOKCTL_PASSWORD
// or a password_file. A password written inside the DSN
// (user:secret@host) still works, but a warning is logged; it is registered
// as a secret either way, so it is redacted from every log line and error.
#pragma once

#include <map>
#include <optional>
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
    // The query parameters, validated: names as the engine's client spells
    // them; values decoded (MySQL's ssl-mode upper-cased).
    std::map<std::string, std::string> params;

    // Throws Error(Code::config) naming what is wrong (without the password).
    static Dsn parse(std::string_view text);

    // A parameter's value, when given.
    std::optional<std::string> param(const std::string& name) const;
    // The connect timeout the DSN asks for (connect_timeout /
    // connect-timeout), in seconds; nullopt when not given.
    std::optional<int> connect_timeout_seconds() const;

    // "mysql://user@host:port/db[?params]": safe for logs and errors (no
    // parameter holds a secret: key files are named, not read).
    std::string redacted() const;
    // "host:port", for messages about reachability.
    std::string address() const;
};

// Throws Error(Code::config) naming the parameter when a file the DSN names
// (a CA, a client certificate or key) cannot be read, before the client
// library would fail less clearly.
void check_dsn_files(const Dsn& dsn);

// Which role a connection plays, to pick the password variable.
enum class DsnRole { source, target, any };

// Fills dsn.password, in order of precedence: the password already in the
// DSN (warned about), the role's environment variable
// (WEBOOKCTL_SOURCE_PASSWORD / WEBOOKCTL_TARGET_PASSWORD), WEBOOKCTL_PASSWORD,
// then `password_file` (first line, trailing newline stripped) if not empty.
// Throws Error(Code::config) if the file cannot be read.
void resolve_password(Dsn& dsn, DsnRole role, const std::string& password_file = {});

}  // namespace webook
