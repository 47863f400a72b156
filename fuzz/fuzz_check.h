// What every fuzz target shares: the rule for exceptions and the way an
// invariant fails.
//
// A parser of outside input may refuse it only with webook::Error of the code
// its header documents; anything else -- another code, another exception, a
// crash, a hang, a leak, a sanitizer report -- is a finding. An invariant that
// does not hold after a successful parse is a finding too: require() prints
// what and aborts, so libFuzzer keeps the input as a crash file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <initializer_list>
#include <string>
#include <string_view>
#include <typeinfo>

#include "core/base/error.h"

namespace webook::fuzz {

[[noreturn]] inline void finding(std::string_view what) {
    std::fprintf(stderr, "fuzz finding: %.*s\n", static_cast<int>(what.size()), what.data());
    std::abort();
}

inline void require(bool holds, std::string_view what) {
    if (!holds) finding(what);
}

// Runs one input through `fn`: returns normally when `fn` does or refuses the
// input with an Error of one of `codes`; every other outcome is a finding.
template <typename Fn>
void run_input(std::initializer_list<Code> codes, Fn&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        for (Code c : codes)
            if (e.code() == c) return;
        finding(std::string("an Error of an undocumented code (") + std::string(code_name(e.code())) +
                "): " + e.what());
    } catch (const std::exception& e) {
        finding(std::string("an exception other than webook::Error (") + typeid(e).name() + "): " + e.what());
    } catch (...) {
        finding("an exception that is not a std::exception");
    }
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace webook::fuzz
