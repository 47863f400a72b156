#include "core/db/dsn.h"

#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/base/secrets.h"

namespace webook {
namespace {

// Decodes %XX escapes (for user names and passwords with '@' or ':').
std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size()) {
            int v = 0;
            auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
            if (ec == std::errc() && p == s.data() + i + 3) {
                out += static_cast<char>(v);
                i += 2;
                continue;
            }
        }
        out += s[i];
    }
    return out;
}

// A DSN as shown in errors before it is parsed: the password part masked.
std::string mask(std::string_view text) {
    std::string out(text);
    auto scheme = out.find("://");
    auto at = out.rfind('@');
    if (scheme != std::string::npos && at != std::string::npos && at > scheme) {
        auto colon = out.find(':', scheme + 3);
        if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
    }
    return out;
}

bool valid_name(std::string_view s) {
    if (s.empty() || s.size() > 63) return false;
    for (char c : s)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '$')) return false;
    return true;
}

}  // namespace

std::string_view engine_name(Engine engine) {
    return engine == Engine::mysql ? "mysql" : "postgres";
}

Dsn Dsn::parse(std::string_view text) {
    auto fail = [&](std::string_view why) -> Error {
        return Error(Code::config, fmt::format("malformed DSN '{}': {} (expected mysql://user@host:port/db "
                                               "or postgres://user@host:port/db)",
                                               mask(text), why));
    };
    Dsn dsn;
    auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) throw fail("no scheme");
    std::string_view scheme = text.substr(0, scheme_end);
    if (scheme == "mysql" || scheme == "mariadb")
        dsn.engine = Engine::mysql;
    else if (scheme == "postgres" || scheme == "postgresql")
        dsn.engine = Engine::postgres;
    else
        throw fail(fmt::format("unknown scheme '{}'", scheme));
    dsn.port = dsn.engine == Engine::mysql ? 3306 : 5432;

    std::string_view rest = text.substr(scheme_end + 3);
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        throw fail("query parameters are not supported");
    }
    // The last '@' ends the user info (a password may hold '/' or '@'; a
    // host or database name never does), so nothing of a password is ever
    // taken for the path or echoed as one.
    auto at = rest.rfind('@');
    if (at == std::string_view::npos) throw fail("no user (write user@host)");
    std::string_view userinfo = rest.substr(0, at);
    auto slash = rest.find('/', at + 1);
    if (slash == std::string_view::npos) throw fail("no database name");
    std::string_view hostport = rest.substr(at + 1, slash - at - 1);
    dsn.database = percent_decode(rest.substr(slash + 1));
    if (!valid_name(dsn.database)) throw fail(fmt::format("invalid database name '{}'", dsn.database));
    if (auto colon = userinfo.find(':'); colon != std::string_view::npos) {
        dsn.user = percent_decode(userinfo.substr(0, colon));
        dsn.password = percent_decode(userinfo.substr(colon + 1));
        dsn.password_in_text = true;
        register_secret(dsn.password);
    } else {
        dsn.user = percent_decode(userinfo);
    }
    if (dsn.user.empty()) throw fail("empty user");

    if (!hostport.empty() && hostport[0] == '[') {  // [::1]:port
        auto close = hostport.find(']');
        if (close == std::string_view::npos) throw fail("unterminated IPv6 address");
        dsn.host = std::string(hostport.substr(1, close - 1));
        hostport.remove_prefix(close + 1);
        if (!hostport.empty() && hostport[0] != ':') throw fail("junk after IPv6 address");
        if (!hostport.empty()) hostport.remove_prefix(1);
    } else {
        auto colon = hostport.rfind(':');
        dsn.host = std::string(hostport.substr(0, colon));
        hostport = colon == std::string_view::npos ? std::string_view() : hostport.substr(colon + 1);
    }
    if (dsn.host.empty()) throw fail("empty host");
    if (!hostport.empty()) {
        int port = 0;
        auto [p, ec] = std::from_chars(hostport.data(), hostport.data() + hostport.size(), port);
        if (ec != std::errc() || p != hostport.data() + hostport.size() || port < 1 || port > 65535)
            throw fail(fmt::format("invalid port '{}'", hostport));
        dsn.port = port;
    }
    return dsn;
}

std::string Dsn::redacted() const {
    return fmt::format("{}://{}@{}/{}", engine_name(engine), user, address(), database);
}

std::string Dsn::address() const {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

void resolve_password(Dsn& dsn, DsnRole role, const std::string& password_file) {
    if (dsn.password_in_text) {
        log::get("config")->warn("the DSN {} contains a password; prefer {} or password_file", dsn.redacted(),
                                 role == DsnRole::target ? "WEBOOKCTL_TARGET_PASSWORD" : "WEBOOKCTL_SOURCE_PASSWORD");
        return;
    }
    const char* role_var = role == DsnRole::source   ? "WEBOOKCTL_SOURCE_PASSWORD"
                           : role == DsnRole::target ? "WEBOOKCTL_TARGET_PASSWORD"
                                                     : nullptr;
    for (const char* var : {role_var, "WEBOOKCTL_PASSWORD"}) {
        if (var == nullptr) continue;
        if (const char* v = std::getenv(var); v != nullptr && *v != '\0') {
            dsn.password = v;
            register_secret(dsn.password);
            return;
        }
    }
    if (!password_file.empty()) {
        std::ifstream in(password_file);
        if (!in) throw Error(Code::config, fmt::format("cannot read password_file '{}'", password_file));
        std::getline(in, dsn.password);
        while (!dsn.password.empty() && (dsn.password.back() == '\r' || dsn.password.back() == '\n'))
            dsn.password.pop_back();
        register_secret(dsn.password);
    }
}

}  // namespace webook
