// Rendering a command's result (cli/render.h).
#include "cli/render.h"

#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "core/base/error.h"
#include "core/db/civil_time.h"
#include "core/db/value.h"

namespace webook::cli {

namespace {

std::string dump(const nlohmann::ordered_json& json, InvalidUtf8 invalid) {
    if (invalid == InvalidUtf8::replace)
        return json.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    return json.dump();
}

}  // namespace

void print_line(const std::string& text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fputc('\n', stdout);
}

void render(const Context& ctx, const nlohmann::ordered_json& json, const std::string& text, InvalidUtf8 invalid) {
    print_line(ctx.json() ? dump(json, invalid) : text);
    std::fflush(stdout);
}

void render(const Context& ctx, const nlohmann::ordered_json& json, const std::vector<std::string>& lines,
            InvalidUtf8 invalid) {
    if (ctx.json()) {
        print_line(dump(json, invalid));
    } else {
        for (const auto& line : lines) print_line(line);
    }
    std::fflush(stdout);
}

double rows_per_second(std::uint64_t rows, double seconds) {
    return seconds > 0 ? static_cast<double>(rows) / seconds : 0.0;
}

std::string json_time(std::int64_t micros) {
    return format_iso_utc(micros);
}

std::string text_time(std::int64_t micros) {
    return format_datetime(micros);
}

std::string json_time_text(const std::string& canonical) {
    if (canonical.empty()) return canonical;
    try {
        return format_iso_utc(Value::parse(ValueKind::datetime, canonical).micros());
    } catch (const Error&) {
        return canonical;  // not a datetime: shown as stored
    }
}

}  // namespace webook::cli
