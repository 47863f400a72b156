// Running webookctl from a whole-CLI test and reading what it printed:
// its exit status, the last JSON line of stdout, the one error line on
// stderr. Header-only, for the integration tests (their target defines
// WEBOOKCTL_BINARY and links nlohmann_json).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/child_process.h"

namespace webook::testing {

// A command line, and two of them joined: Args{"validate"} + sides.
using Args = std::vector<std::string>;
inline Args operator+(Args a, const Args& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// webookctl with these arguments, waited for up to two minutes.
inline CommandResult webookctl(std::vector<std::string> args) {
    args.insert(args.begin(), WEBOOKCTL_BINARY);
    return run_command(args, std::chrono::minutes(2));
}

// Exit status, stdout and stderr, for failure messages.
inline std::string describe(const CommandResult& r) {
    return "exit " + std::to_string(r.exit_code) + "\n--- stdout:\n" + r.out + "\n--- stderr:\n" + r.err;
}

// The last line of stdout as JSON.
inline nlohmann::json last_json(const CommandResult& r) {
    std::string out = r.out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return nlohmann::json::parse(out.substr(out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1));
}

// Exit `exit_code`, nothing on stdout, and exactly one "webookctl: error: "
// line on stderr, mentioning `what`.
inline void expect_one_error(const CommandResult& r, int exit_code, const std::string& what) {
    SCOPED_TRACE(describe(r));
    EXPECT_EQ(r.exit_code, exit_code);
    EXPECT_EQ(r.out, "");
    std::size_t lines = 0;
    std::string error;
    for (std::size_t start = 0; start < r.err.size();) {
        std::size_t end = r.err.find('\n', start);
        if (end == std::string::npos) end = r.err.size();
        std::string line = r.err.substr(start, end - start);
        if (line.starts_with("webookctl: error: ")) {
            ++lines;
            error = line;
        }
        start = end + 1;
    }
    EXPECT_EQ(lines, 1u);
    EXPECT_NE(error.find(what), std::string::npos) << error;
}

// A --metrics-file as Prometheus' own parser (python3-prometheus-client,
// tests/metrics/parse_metrics.py) reads it: every family typed and
// documented, no series twice. Series are name{label="value",...} with the
// labels sorted; a counter's family is named without its _total.
struct ParsedMetrics {
    std::map<std::string, std::string> types;  // family -> "gauge", "counter"
    std::map<std::string, double> samples;     // series -> value
    bool has(const std::string& series) const { return samples.contains(series); }
    double at(const std::string& series) const {
        auto it = samples.find(series);
        if (it == samples.end()) {
            ADD_FAILURE() << "no series " << series << " in the metrics file";
            return -1;
        }
        return it->second;
    }
};

inline ParsedMetrics parse_metrics(const std::string& path) {
    CommandResult r =
        run_command({"/usr/bin/python3", std::string(WEBOOK_SOURCE_DIR) + "/tests/metrics/parse_metrics.py", path},
                    std::chrono::seconds(60));
    ParsedMetrics m;
    if (r.exit_code != 0) {
        ADD_FAILURE() << "the metrics file " << path << " does not parse: " << describe(r);
        return m;
    }
    const nlohmann::json j = nlohmann::json::parse(r.out);
    for (const auto& [k, v] : j.at("types").items()) m.types[k] = v.get<std::string>();
    for (const auto& [k, v] : j.at("samples").items()) m.samples[k] = v.get<double>();
    return m;
}

}  // namespace webook::testing
