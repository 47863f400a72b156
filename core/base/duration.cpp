#include "core/base/duration.h"

#include <charconv>
#include <cmath>
#include <cstdint>

#include <fmt/format.h>

#include "core/base/error.h"

namespace webook {

std::chrono::microseconds parse_duration(std::string_view text, std::string_view what) {
    auto invalid = [&](std::string_view why) {
        return Error(Code::usage, fmt::format("{} '{}' {}, e.g. 500ms, 30s, 5m, 36h or 7d", what, text, why));
    };
    double number = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number, std::chars_format::fixed);
    if (ec != std::errc() || !std::isfinite(number) || number < 0) throw invalid("is not a duration");
    const std::string_view unit = text.substr(static_cast<std::size_t>(end - text.data()));
    double micros_per_unit = 0;
    if (unit == "us")
        micros_per_unit = 1;
    else if (unit == "ms")
        micros_per_unit = 1e3;
    else if (unit == "s")
        micros_per_unit = 1e6;
    else if (unit == "m")
        micros_per_unit = 60e6;
    else if (unit == "h")
        micros_per_unit = 3600e6;
    else if (unit == "d")
        micros_per_unit = 86400e6;
    else if (unit.empty() && number == 0)
        return std::chrono::microseconds(0);
    else if (unit.empty())
        throw invalid("needs a unit");
    else
        throw invalid("is not a duration");
    const double micros = std::round(number * micros_per_unit);
    if (micros > 9.2e18) throw invalid("is too long");
    return std::chrono::microseconds(static_cast<std::int64_t>(micros));
}

std::string format_duration(std::chrono::microseconds d) {
    const std::int64_t us = d.count();
    if (us == 0) return "0s";
    struct Unit {
        std::int64_t micros;
        const char* name;
    };
    static constexpr Unit k_units[] = {{86'400'000'000, "d"}, {3'600'000'000, "h"}, {60'000'000, "m"},
                                       {1'000'000, "s"},      {1'000, "ms"},        {1, "us"}};
    for (const Unit& u : k_units)
        if (us % u.micros == 0) return fmt::format("{}{}", us / u.micros, u.name);
    return fmt::format("{}us", us);
}

}  // namespace webook
