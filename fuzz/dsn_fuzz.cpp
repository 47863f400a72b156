// Dsn::parse (core/db/dsn.h): DSNs come from flags, WEBOOKCTL_*_DSN and the
// config file. Refusals are Error(Code::config). Invariants:
//   - the password never shapes anything but itself: the same text with the
//     password's characters replaced parses to the same DSN, or fails with
//     the same message (so no message echoes the password);
//   - redacted() and address() do not depend on the password, and redacted()
//     is a DSN again: the same engine, user, host, port and database, no
//     password;
//   - a password written in the DSN is registered as a secret (redacted).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/base/error.h"
#include "core/base/secrets.h"
#include "core/db/dsn.h"
#include "fuzz/fuzz_check.h"

namespace webook {
namespace {

using fuzz::require;

struct Outcome {
    std::optional<Dsn> dsn;
    std::string error;  // when refused
};

Outcome parse(std::string_view text) {
    Outcome out;
    try {
        out.dsn = Dsn::parse(text);
    } catch (const Error& e) {
        if (e.code() != Code::config) fuzz::finding(std::string("not a config error: ") + e.what());
        out.error = e.what();
    }
    return out;
}

// Where Dsn::parse finds the password: after the first ':' of the user info,
// which ends at the last '@' after the scheme. Empty when there is none.
std::pair<std::size_t, std::size_t> password_span(std::string_view text) {
    const auto scheme = text.find("://");
    if (scheme == std::string_view::npos) return {0, 0};
    const auto at = text.rfind('@');
    if (at == std::string_view::npos || at < scheme + 3) return {0, 0};
    const auto colon = text.find(':', scheme + 3);
    if (colon == std::string_view::npos || colon > at) return {0, 0};
    return {colon + 1, at};
}

// `text` with every password character but '?' (which refuses the whole DSN)
// replaced by 'Z'.
std::string with_other_password(std::string_view text, std::pair<std::size_t, std::size_t> span) {
    std::string out(text);
    for (std::size_t i = span.first; i < span.second; ++i)
        if (out[i] != '?') out[i] = 'Z';
    return out;
}

bool same_parts(const Dsn& a, const Dsn& b) {
    return a.engine == b.engine && a.user == b.user && a.host == b.host && a.port == b.port &&
           a.database == b.database && a.password_in_text == b.password_in_text && a.params == b.params;
}

void check_parsed(const Dsn& dsn) {
    require(!dsn.user.empty() && !dsn.host.empty() && !dsn.database.empty(), "an empty user, host or database");
    require(dsn.port >= 1 && dsn.port <= 65535, "a port outside 1..65535");
    require(dsn.password_in_text || dsn.password.empty(), "a password without password_in_text");

    Dsn without = dsn;
    without.password.clear();
    without.password_in_text = false;
    require(dsn.redacted() == without.redacted() && dsn.address() == without.address(),
            "redacted() or address() depends on the password");
    if (dsn.password.size() >= 3) require(redact(dsn.password) == "***", "the DSN's password is not a secret");

    // redacted() shows the decoded user: one with ':', '?' or '%' reads
    // differently as a DSN, and so does a host with brackets of its own.
    const bool plain_user = dsn.user.find_first_of(":?%") == std::string::npos;
    const bool plain_host = dsn.host.find_first_of("[]") == std::string::npos;
    if (plain_user && plain_host) {
        const Dsn back = Dsn::parse(dsn.redacted());
        require(same_parts(back, without), "redacted() does not parse back to the same DSN");
    }
}

}  // namespace
}  // namespace webook

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace webook;
    const std::string_view text = fuzz::as_text(data, size);
    fuzz::run_input({}, [&] {
        const Outcome first = parse(text);
        if (first.dsn) check_parsed(*first.dsn);

        const auto span = password_span(text);
        if (span.first >= span.second) return;
        const Outcome other = parse(with_other_password(text, span));
        if (first.dsn) {
            fuzz::require(other.dsn && same_parts(*first.dsn, *other.dsn),
                          "another password changes how the rest of the DSN parses");
        } else {
            fuzz::require(!other.dsn && other.error == first.error,
                          "another password changes the error message: " + first.error + " / " + other.error);
        }
    });
    return 0;
}
