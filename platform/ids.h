// Ids and timestamps the platform writes, made by the client.
//
// Through the double-write connection one statement runs on two databases,
// possibly two engines: both must store the same row. So the platform never
// lets a server pick a value -- no AUTO_INCREMENT/BIGSERIAL ids, no NOW() --
// it generates the id and reads the clock itself and binds both as
// parameters.
//
// An id is a 63-bit snowflake, time-ordered:
//   milliseconds since 2020-01-01 UTC << 22 | worker id (10 bits) << 12 | sequence (12 bits)
// good for about 69 years; up to 4096 ids per millisecond per worker. Ids of
// one generator strictly increase, even when the wall clock steps back or
// more than 4096 are asked for in one millisecond (the generator then runs
// ahead of the clock until the clock catches up). Ids of two generators are
// distinct when their worker ids differ; the default worker id mixes the pid
// with a random number, so two processes share one with probability 1/1024.
#pragma once

#include <cstdint>
#include <mutex>

#include "core/base/clock.h"

namespace webook {

struct IdParts {
    std::int64_t millis_since_epoch = 0;  // since IdGenerator::k_epoch_millis
    int worker_id = 0;
    int sequence = 0;
};

// Thread-safe.
class IdGenerator {
public:
    static constexpr std::int64_t k_epoch_millis = 1577836800000;  // 2020-01-01 00:00:00 UTC
    static constexpr int k_worker_bits = 10;
    static constexpr int k_sequence_bits = 12;
    static constexpr int k_max_worker_id = (1 << k_worker_bits) - 1;

    // Throws Error(Code::usage) when worker_id is outside 0..1023.
    explicit IdGenerator(int worker_id = default_worker_id(), Clock& clock = Clock::real());

    std::int64_t next();

    int worker_id() const;
    // For hosts that are given distinct worker ids. Throws like the constructor.
    void set_worker_id(int worker_id);

    static IdParts decode(std::int64_t id);
    // The pid mixed with a random number, 0..1023.
    static int default_worker_id();
    // The process-wide generator the platform services use by default.
    static IdGenerator& global();

private:
    Clock& m_clock;  // its wall time
    mutable std::mutex m_mutex;
    int m_worker_id = 0;
    std::int64_t m_last_millis = -1;  // of the last id issued, since the epoch
    int m_sequence = 0;
};

}  // namespace webook
