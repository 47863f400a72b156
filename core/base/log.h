// Logging: named loggers per component, diagnostics to stderr only.
//
// Results go to stdout; everything here goes to stderr, as text or as one
// JSON object per line (--log-format json). Every line passes through
// redact() so a password can never be printed. The header carries only fmt;
// spdlog stays in log.cpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace webook::log {

enum class Level { trace, debug, info, warn, error, off };
enum class Format { text, json };

// Throws Error(Code::usage) on an unknown name.
Level parse_level(std::string_view name);
Format parse_format(std::string_view name);

// Configures every logger, existing and future. Default: info, text.
void setup(Level level, Format format);

class Logger {
public:
    explicit Logger(std::string name) : m_name(std::move(name)) {}

    bool enabled(Level level) const;
    void write(Level level, std::string_view message) const;

    template <typename... Args>
    void trace(fmt::format_string<Args...> f, Args&&... args) const {
        emit(Level::trace, f, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void debug(fmt::format_string<Args...> f, Args&&... args) const {
        emit(Level::debug, f, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void info(fmt::format_string<Args...> f, Args&&... args) const {
        emit(Level::info, f, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void warn(fmt::format_string<Args...> f, Args&&... args) const {
        emit(Level::warn, f, std::forward<Args>(args)...);
    }
    template <typename... Args>
    void error(fmt::format_string<Args...> f, Args&&... args) const {
        emit(Level::error, f, std::forward<Args>(args)...);
    }

    const std::string& name() const { return m_name; }

private:
    template <typename... Args>
    void emit(Level level, fmt::format_string<Args...> f, Args&&... args) const {
        if (enabled(level)) write(level, fmt::format(f, std::forward<Args>(args)...));
    }

    std::string m_name;
};

// The logger of a component ("db", "copy", "validate", ...). Never null;
// the pointer stays valid for the life of the process.
const Logger* get(std::string_view component);

}  // namespace webook::log
