#include "core/base/secrets.h"

#include <algorithm>
#include <mutex>
#include <vector>

namespace webook {
namespace {

std::mutex g_mutex;
std::vector<std::string>& secrets() {
    static std::vector<std::string> list;
    return list;
}

}  // namespace

void register_secret(std::string_view secret) {
    // Very short secrets would redact ordinary words; they are still never
    // printed by us, only not searched for in third-party text.
    if (secret.size() < 3) return;
    std::lock_guard lock(g_mutex);
    for (const auto& s : secrets())
        if (s == secret) return;
    // Longest first, so a secret that contains another is masked whole.
    auto& list = secrets();
    auto at = std::find_if(list.begin(), list.end(), [&](const std::string& s) { return s.size() < secret.size(); });
    list.emplace(at, secret);
}

std::string redact(std::string_view text) {
    std::string out(text);
    std::lock_guard lock(g_mutex);
    for (const auto& s : secrets()) {
        for (std::size_t pos = out.find(s); pos != std::string::npos; pos = out.find(s, pos + 3))
            out.replace(pos, s.size(), "***");
    }
    return out;
}

}  // namespace webook
