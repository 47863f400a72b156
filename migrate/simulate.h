// simulate: realistic mixed platform traffic, the load of the migration drill
// and a benchmark of the double-write cost.
//
// N writer threads, each with its own connection (usually a double-write
// connection in the current mode), run a seeded random mix through the
// platform library: reads, likes/unlikes, collects/uncollects and interaction
// lookups on published articles, and each writer's own author saving and
// publishing drafts. Only legal operations are generated, so any failed user
// operation is a real failure (a first-side error). Latencies are measured
// per operation.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "core/db/db.h"
#include "migrate/double_write.h"

namespace webook {

struct SimulateOptions {
    int writers = 8;                            // default: 8
    std::chrono::milliseconds duration{10000};  // default: 10 s (SIGINT/SIGTERM stop it early)
    std::uint64_t seed = 1;                     // default: 1; the same seed gives the same operation sequence
    std::int64_t users = 1000;                  // readers' uids are 1..users; default: 1000
    std::int64_t author_base = 9'000'000;       // writer w writes as author author_base + w

    void validate() const;  // throws Error(Code::usage)
};

struct OperationStats {
    std::uint64_t count = 0;
    std::uint64_t failed = 0;
};

struct SimulateReport {
    std::uint64_t operations = 0;
    std::uint64_t failed = 0;                // user operations that failed (first side)
    std::uint64_t second_side_failures = 0;  // from the double-write counters
    double seconds = 0;
    double ops_per_second = 0;
    double p50_ms = 0, p95_ms = 0, p99_ms = 0, mean_ms = 0;
    std::map<std::string, OperationStats> by_operation;
    std::string first_failure;  // the first failure's message, if any
};

// Runs the traffic. `connect` opens each writer's connection; `counters` (may
// be null) are the double-write counters those connections share.
SimulateReport simulate(const ConnectionFactory& connect, const SimulateOptions& options,
                        const DoubleWriteCounters* counters);

}  // namespace webook
