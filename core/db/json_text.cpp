#include "core/db/json_text.h"

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace webook {
namespace {

// A JSON number's text (RFC 8259 grammar, as the parser accepted it) in plain
// decimal: the digits without leading or trailing zeros and the point where
// the value puts it; scientific ("1.5e+300") only when the point is far off,
// so a huge exponent cannot make a huge string.
std::string canonical_number(std::string_view raw) {
    const bool negative = !raw.empty() && raw.front() == '-';
    if (negative) raw.remove_prefix(1);
    std::string digits;
    long long point = 0;  // the value is 0.<digits> x 10^point
    std::size_t i = 0;
    for (; i < raw.size() && raw[i] >= '0' && raw[i] <= '9'; ++i) digits += raw[i];
    point = static_cast<long long>(digits.size());
    if (i < raw.size() && raw[i] == '.')
        for (++i; i < raw.size() && raw[i] >= '0' && raw[i] <= '9'; ++i) digits += raw[i];
    if (i < raw.size() && (raw[i] == 'e' || raw[i] == 'E')) {
        ++i;
        bool exp_negative = false;
        if (i < raw.size() && (raw[i] == '+' || raw[i] == '-')) exp_negative = raw[i++] == '-';
        long long exponent = 0;
        for (; i < raw.size() && raw[i] >= '0' && raw[i] <= '9'; ++i)
            exponent = std::min<long long>(exponent * 10 + (raw[i] - '0'), 1'000'000'000LL);
        point += exp_negative ? -exponent : exponent;
    }
    std::size_t lead = 0;
    while (lead < digits.size() && digits[lead] == '0') ++lead;
    digits.erase(0, lead);
    point -= static_cast<long long>(lead);
    while (!digits.empty() && digits.back() == '0') digits.pop_back();
    if (digits.empty()) return "0";
    std::string out = negative ? "-" : "";
    const auto n = static_cast<long long>(digits.size());
    if (point > 64 || point < -64) {
        out += digits[0];
        if (n > 1) out += "." + digits.substr(1);
        return out + "e" + std::to_string(point - 1);
    }
    if (point <= 0) return out + "0." + std::string(static_cast<std::size_t>(-point), '0') + digits;
    if (point >= n) return out + digits + std::string(static_cast<std::size_t>(point - n), '0');
    return out + digits.substr(0, static_cast<std::size_t>(point)) + "." +
           digits.substr(static_cast<std::size_t>(point));
}

std::string json_string(const std::string& s) {
    return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
}

// Builds the canonical text bottom-up as the parser reports the document.
class Canonicalizer final : public nlohmann::json_sax<nlohmann::json> {
public:
    bool null() override { return value("null"); }
    bool boolean(bool v) override { return value(v ? "true" : "false"); }
    bool number_integer(number_integer_t v) override { return value(v == 0 ? "0" : std::to_string(v)); }
    bool number_unsigned(number_unsigned_t v) override { return value(std::to_string(v)); }
    bool number_float(number_float_t, const string_t& raw) override { return value(canonical_number(raw)); }
    bool string(string_t& v) override { return value(json_string(v)); }
    bool binary(binary_t&) override { return false; }
    bool start_object(std::size_t) override {
        m_frames.push_back(Frame{true, {}, {}, {}});
        return true;
    }
    bool key(string_t& k) override {
        m_frames.back().key = json_string(k);
        return true;
    }
    bool end_object() override {
        Frame f = std::move(m_frames.back());
        m_frames.pop_back();
        // By key; of a key given twice the last value stays (stable sort,
        // then the last of each run of equal keys).
        std::stable_sort(f.members.begin(), f.members.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        std::string out = "{";
        for (std::size_t i = 0; i < f.members.size(); ++i) {
            if (i + 1 < f.members.size() && f.members[i + 1].first == f.members[i].first) continue;
            if (out.size() > 1) out += ',';
            out += f.members[i].first + ":" + f.members[i].second;
        }
        return value(out + "}");
    }
    bool start_array(std::size_t) override {
        m_frames.push_back(Frame{false, {}, {}, {}});
        return true;
    }
    bool end_array() override {
        Frame f = std::move(m_frames.back());
        m_frames.pop_back();
        std::string out = "[";
        for (std::size_t i = 0; i < f.items.size(); ++i) out += (i ? "," : "") + f.items[i];
        return value(out + "]");
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

    std::string& result() { return m_result; }

private:
    struct Frame {
        bool object;
        std::vector<std::pair<std::string, std::string>> members;  // quoted key, canonical value
        std::vector<std::string> items;
        std::string key;
    };

    bool value(std::string text) {
        if (m_frames.empty()) {
            m_result = std::move(text);
        } else if (m_frames.back().object) {
            m_frames.back().members.emplace_back(std::move(m_frames.back().key), std::move(text));
        } else {
            m_frames.back().items.push_back(std::move(text));
        }
        return true;
    }

    std::vector<Frame> m_frames;
    std::string m_result;
};

}  // namespace

std::optional<std::string> canonical_json(std::string_view text) {
    Canonicalizer c;
    try {
        if (!nlohmann::json::sax_parse(text.begin(), text.end(), &c, nlohmann::json::input_format_t::json, true))
            return std::nullopt;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;  // a string that is not UTF-8
    }
    return std::move(c.result());
}

}  // namespace webook
