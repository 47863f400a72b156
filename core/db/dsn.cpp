#include "core/db/dsn.h"

#include <algorithm>
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

// The inverse of percent_decode, for parameter values in redacted().
std::string percent_encode(std::string_view s) {
    std::string out;
    for (char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || std::string_view("-._~/:,+").find(c) != std::string_view::npos)
            out += c;
        else
            out += fmt::format("%{:02X}", u);
    }
    return out;
}

struct ParamRule {
    std::string_view name;
    std::initializer_list<std::string_view> choices;  // empty: any non-empty value
    bool seconds = false;                             // a whole number of seconds, 1..3600
};

const std::initializer_list<ParamRule>& rules_for(Engine engine) {
    static const std::initializer_list<ParamRule> pg = {
        {"sslmode", {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}},
        {"sslrootcert", {}},
        {"sslcert", {}},
        {"sslkey", {}},
        {"connect_timeout", {}, true},
        {"application_name", {}},
        {"options", {}},
    };
    static const std::initializer_list<ParamRule> my = {
        {"ssl-mode", {"DISABLED", "PREFERRED", "REQUIRED", "VERIFY_CA", "VERIFY_IDENTITY"}},
        {"ssl-ca", {}},
        {"ssl-cert", {}},
        {"ssl-key", {}},
        {"socket", {}},
        {"connect-timeout", {}, true},
    };
    return engine == Engine::postgres ? pg : my;
}

// Parses "k=v&k=v" into dsn.params; `fail` makes the error.
template <typename Fail>
void parse_params(std::string_view query, Dsn& dsn, Fail&& fail) {
    const auto& rules = rules_for(dsn.engine);
    std::string known;
    for (const auto& r : rules) known += (known.empty() ? "" : ", ") + std::string(r.name);
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        const auto eq = item.find('=');
        const std::string name = percent_decode(item.substr(0, eq));
        std::string value = eq == std::string_view::npos ? std::string() : percent_decode(item.substr(eq + 1));
        const auto rule = std::find_if(rules.begin(), rules.end(), [&](const ParamRule& r) { return r.name == name; });
        if (rule == rules.end())
            throw fail(fmt::format("unknown parameter '{}' for {} (known: {})", name, engine_name(dsn.engine), known));
        if (value.empty()) throw fail(fmt::format("parameter '{}' needs a value", name));
        if (dsn.params.contains(name)) throw fail(fmt::format("parameter '{}' given twice", name));
        if (rule->choices.size() != 0) {
            std::string v = value;
            if (dsn.engine == Engine::mysql)
                for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            if (std::find(rule->choices.begin(), rule->choices.end(), v) == rule->choices.end()) {
                std::string choices;
                for (auto c : rule->choices) choices += (choices.empty() ? "" : "|") + std::string(c);
                throw fail(fmt::format("parameter '{}' is '{}', not one of {}", name, value, choices));
            }
            value = v;
        }
        if (rule->seconds) {
            int n = 0;
            auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc() || p != value.data() + value.size() || n < 1 || n > 3600)
                throw fail(fmt::format("parameter '{}' is '{}', not a whole number of seconds 1..3600", name, value));
        }
        dsn.params.emplace(name, std::move(value));
    }
    const bool pg = dsn.engine == Engine::postgres;
    const std::string cert = pg ? "sslcert" : "ssl-cert", key = pg ? "sslkey" : "ssl-key";
    if (dsn.params.contains(cert) != dsn.params.contains(key))
        throw fail(fmt::format("a client certificate needs both '{}' and '{}'", cert, key));
    if (auto s = dsn.params.find("socket"); s != dsn.params.end() && s->second.front() != '/')
        throw fail(fmt::format("parameter 'socket' is '{}', not an absolute path", s->second));
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
    // The last '@' ends the user info (a password may hold '/', '?' or '@';
    // a host or database name never does, and a parameter value writes it
    // %40), so nothing of a password is ever taken for the path or echoed as
    // one. The parameters start at the first '?' after it.
    auto at = rest.rfind('@');
    if (at == std::string_view::npos) throw fail("no user (write user@host)");
    if (auto q = rest.find('?', at); q != std::string_view::npos) {
        parse_params(rest.substr(q + 1), dsn, fail);
        rest = rest.substr(0, q);
    }
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

std::optional<std::string> Dsn::param(const std::string& name) const {
    auto it = params.find(name);
    if (it == params.end()) return std::nullopt;
    return it->second;
}

std::optional<int> Dsn::connect_timeout_seconds() const {
    auto v = param(engine == Engine::postgres ? "connect_timeout" : "connect-timeout");
    if (!v) return std::nullopt;
    return std::stoi(*v);  // validated by parse()
}

std::string Dsn::redacted() const {
    std::string query;
    for (const auto& [k, v] : params) query += fmt::format("{}{}={}", query.empty() ? "?" : "&", k, percent_encode(v));
    return fmt::format("{}://{}@{}/{}{}", engine_name(engine), user, address(), database, query);
}

std::string Dsn::address() const {
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

void check_dsn_files(const Dsn& dsn) {
    for (const char* name : {"sslrootcert", "sslcert", "sslkey", "ssl-ca", "ssl-cert", "ssl-key"}) {
        const auto path = dsn.param(name);
        if (!path) continue;
        std::ifstream in(*path);
        if (!in)
            throw Error(Code::config,
                        fmt::format("{}: the file of parameter '{}' ({}) cannot be read", dsn.redacted(), name, *path));
    }
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
