// Deterministic, realistic seed data for the webook tables.
//
// The same options (seed, sizes, base time) give the same rows on MariaDB and
// on PostgreSQL, so a seeded source and a seeded target compare equal.
// Variety on purpose: unicode titles and nicknames (4-byte UTF-8 included),
// NULLs, empty strings, trailing spaces, long content, binary hashes with
// 0x00/0xFF, timestamps spread over weeks with microseconds, likes skewed to
// popular articles (Zipf-like), rewards paid and booked 90/10 with balances
// equal to the ledger.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace webook {

class Connection;

enum class Truncate { no, yes };

struct SeedOptions {
    std::int64_t users = 1000;          // default: 1000
    std::int64_t articles = 5000;       // default: 5000
    std::int64_t interactives = 0;      // default: 0 = one per article; more adds other bizes
    std::int64_t likes = 20000;         // user_like_bizs rows; default: 20000
    std::int64_t collects = 5000;       // user_collection_bizs rows; default: 5000
    std::int64_t rewards = 500;         // rewards (+ payments, ledger); default: 500
    std::uint64_t seed = 42;            // default: 42
    std::int64_t base_time_micros = 0;  // "now" of the data; default: 0 = this hour (UTC)
    Truncate truncate = Truncate::no;   // default: refuse non-empty tables

    void validate() const;  // throws Error(Code::usage)
};

struct TableCount {
    std::string table;
    std::int64_t rows = 0;
};

struct SeedResult {
    std::vector<TableCount> inserted;
    double seconds = 0;
};

// Fills the webook tables (created by init_schema). Refuses tables that are
// not empty unless options.truncate. One transaction per table.
SeedResult seed_database(Connection& conn, const SeedOptions& options);

// Row counts of the webook tables, in schema order.
std::vector<TableCount> count_rows(Connection& conn);

}  // namespace webook
