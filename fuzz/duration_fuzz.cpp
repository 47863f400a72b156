// parse_duration (core/base/duration.h): every duration flag and config key
// (--lease, --window, --grace, --retry-for, ...). Refusals are
// Error(Code::usage) naming the flag. Invariants of a parsed duration: it is
// not negative, and format_duration() spells it so that it parses back to
// the same number of microseconds.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/duration.h"
#include "core/base/error.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace webook;
    const std::string_view text = fuzz::as_text(data, size);
    std::chrono::microseconds d{};
    bool parsed = false;
    fuzz::run_input({}, [&] {
        try {
            d = parse_duration(text, "--fuzz");
            parsed = true;
        } catch (const Error& e) {
            fuzz::require(e.code() == Code::usage, std::string("not a usage error: ") + e.what());
            fuzz::require(std::string_view(e.what()).find("--fuzz") != std::string_view::npos,
                          std::string("the refusal does not name the flag: ") + e.what());
        }
    });
    if (!parsed) return 0;
    fuzz::require(d.count() >= 0, "a negative duration");
    fuzz::run_input({}, [&] {
        const std::string spelled = format_duration(d);
        fuzz::require(parse_duration(spelled, "--fuzz") == d, "format_duration() spells " + std::to_string(d.count()) +
                                                                  "us as " + spelled +
                                                                  ", which parses to another duration");
    });
    return 0;
}
