// KafkaUrl::parse (core/messaging/kafka.h): the kafka:// URLs of --sink,
// --from and the other event flags. Refusals are Error(Code::config).
// Invariants: a parsed URL names at least one broker, every one with an
// explicit port, and a topic Kafka accepts; str() parses back to the same
// URL; a refusal never shows the user info of a URL.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/messaging/kafka.h"
#include "fuzz/fuzz_check.h"

namespace webook {
namespace {

using fuzz::require;

void check_parsed(const KafkaUrl& url) {
    require(!url.brokers.empty(), "no broker");
    validate_topic_name(url.topic);  // an Error here is a finding: run_input allows none past parse
    std::string_view rest = url.brokers;
    while (true) {
        const auto comma = rest.find(',');
        const std::string_view entry = rest.substr(0, comma);
        const auto colon = entry.rfind(':');
        require(colon != std::string_view::npos && colon + 1 < entry.size(), "a broker without an explicit port");
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    const KafkaUrl back = KafkaUrl::parse(url.str());
    require(back.brokers == url.brokers && back.topic == url.topic, "str() does not parse back to the same URL");
}

// A URL with user info ("kafka://user:secret@host/topic") is refused; the
// refusal must not show it: the same URL with other user info (its
// characters replaced, but for those that decide the refusal) is refused
// with the same message.
void check_refusal(std::string_view text, const Error& e) {
    const auto scheme = text.find("://");
    if (scheme == std::string_view::npos) return;
    const auto authority_end = text.find('/', scheme + 3);
    const auto at = text.find('@', scheme + 3);
    if (at == std::string_view::npos || at >= authority_end) return;
    std::string other(text);
    for (std::size_t i = scheme + 3; i < at; ++i)
        if (other[i] != '?' && other[i] != '#') other[i] = 'Z';
    try {
        KafkaUrl::parse(other);
    } catch (const Error& e_other) {
        require(std::string_view(e.what()) == e_other.what(),
                std::string("a refusal depends on the URL's user info: ") + e.what() + " / " + e_other.what());
        return;
    }
    fuzz::finding(std::string("other user info makes a refused URL parse: ") + e.what());
}

}  // namespace
}  // namespace webook

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace webook;
    const std::string_view text = fuzz::as_text(data, size);
    fuzz::run_input({}, [&] {
        KafkaUrl url;
        try {
            url = KafkaUrl::parse(text);
        } catch (const Error& e) {
            fuzz::require(e.code() == Code::config, std::string("not a config error: ") + e.what());
            check_refusal(text, e);
            return;
        }
        check_parsed(url);
    });
    return 0;
}
