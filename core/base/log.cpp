#include "core/base/log.h"

#include <atomic>
#include <map>
#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "core/base/error.h"
#include "core/base/secrets.h"

namespace webook::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::atomic<Format> g_format{Format::text};

spdlog::level::level_enum to_spdlog(Level level) {
    switch (level) {
    case Level::trace: return spdlog::level::trace;
    case Level::debug: return spdlog::level::debug;
    case Level::info: return spdlog::level::info;
    case Level::warn: return spdlog::level::warn;
    case Level::error: return spdlog::level::err;
    case Level::off: return spdlog::level::off;
    }
    return spdlog::level::info;
}

// JSON string escaping for the json log format (no nlohmann in the hot path).
std::string json_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    for (unsigned char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20)
                out += fmt::format("\\u{:04x}", c);
            else
                out += static_cast<char>(c);
        }
    }
    return out;
}

std::shared_ptr<spdlog::logger> sink_logger() {
    static std::shared_ptr<spdlog::logger> logger = [] {
        auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
        auto l = std::make_shared<spdlog::logger>("webookctl", sink);
        l->set_level(spdlog::level::trace);
        return l;
    }();
    return logger;
}

void apply_pattern() {
    if (g_format.load() == Format::json) {
        // The message is pre-rendered as the JSON object's tail (see write()).
        sink_logger()->set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})",
                                   spdlog::pattern_time_type::utc);
    } else {
        sink_logger()->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v", spdlog::pattern_time_type::utc);
    }
}

}  // namespace

Level parse_level(std::string_view name) {
    if (name == "trace") return Level::trace;
    if (name == "debug") return Level::debug;
    if (name == "info") return Level::info;
    if (name == "warn" || name == "warning") return Level::warn;
    if (name == "error") return Level::error;
    if (name == "off") return Level::off;
    throw Error(Code::usage, fmt::format("unknown log level '{}' (trace, debug, info, warn, error, off)", name));
}

Format parse_format(std::string_view name) {
    if (name == "text") return Format::text;
    if (name == "json") return Format::json;
    throw Error(Code::usage, fmt::format("unknown log format '{}' (text, json)", name));
}

void setup(Level level, Format format) {
    g_level = level;
    g_format = format;
    apply_pattern();
}

bool Logger::enabled(Level level) const {
    return level >= g_level.load() && level != Level::off;
}

void Logger::write(Level level, std::string_view message) const {
    static std::once_flag pattern_once;
    std::call_once(pattern_once, apply_pattern);
    const std::string clean = redact(message);
    if (g_format.load() == Format::json) {
        sink_logger()->log(to_spdlog(level), R"("component":"{}","msg":"{}")", m_name, json_escape(clean));
    } else {
        sink_logger()->log(to_spdlog(level), "[{}] {}", m_name, clean);
    }
}

const Logger* get(std::string_view component) {
    static std::mutex mutex;
    static std::map<std::string, std::unique_ptr<Logger>, std::less<>> loggers;
    std::lock_guard lock(mutex);
    auto it = loggers.find(component);
    if (it == loggers.end())
        it = loggers.emplace(std::string(component), std::make_unique<Logger>(std::string(component))).first;
    return it->second.get();
}

}  // namespace webook::log
