// One error model for the whole tool.
//
// Every failure that reaches the user is an Error: a Code that decides the exit
// status, a message that names what failed and where (host, port, table, key --
// never a password, never connector internals), and whether the failure is
// temporary (worth retrying: lost connection, deadlock, lock wait timeout).
// Each layer adds context with Error::context(), outermost first:
//   "validating interactives at id 1234: target query failed: ..."
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace webook {

enum class Code {
    usage,        // bad flags, bad arguments, illegal operation requested      -> exit 2
    config,       // malformed config file, DSN, unknown table/column in config -> exit 2
    connection,   // refused, unreachable, authentication failed                -> exit 3
    server,       // the server rejected a statement or failed mid-way          -> exit 3
    data,         // data that cannot be read or written as asked (bad event)   -> exit 3
    internal,     // a bug in webookctl                                         -> exit 4
    interrupted,  // SIGINT/SIGTERM: stopped at a safe point                    -> exit 130
};

enum class Temporary { no, yes };

class Error : public std::runtime_error {
public:
    Error(Code code, std::string message, Temporary temporary = Temporary::no);

    Code code() const { return m_code; }
    bool is_temporary() const { return m_temporary == Temporary::yes; }

    // A copy of this error with "what: " prepended to the message.
    Error context(std::string_view what) const;

private:
    Code m_code;
    Temporary m_temporary;
};

// Exit statuses, the same for every command (README "Exit codes").
inline constexpr int k_exit_ok = 0;
inline constexpr int k_exit_findings = 1;
inline constexpr int k_exit_usage = 2;
inline constexpr int k_exit_connection = 3;
inline constexpr int k_exit_internal = 4;
inline constexpr int k_exit_interrupted = 130;

int exit_code_for(Code code);
std::string_view code_name(Code code);

// Calls fn(); if it throws an Error, rethrows it with `what` prepended.
template <typename Fn>
decltype(auto) with_context(std::string_view what, Fn&& fn) {
    try {
        return fn();
    } catch (const Error& e) {
        throw e.context(what);
    }
}

}  // namespace webook
