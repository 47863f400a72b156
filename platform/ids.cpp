#include "platform/ids.h"

#include <chrono>
#include <random>

#include <fmt/format.h>
#include <unistd.h>

#include "core/base/error.h"

namespace webook {
namespace {

void check_worker_id(int worker_id) {
    if (worker_id < 0 || worker_id > IdGenerator::k_max_worker_id)
        throw Error(Code::usage,
                    fmt::format("worker id {} is out of range 0..{}", worker_id, IdGenerator::k_max_worker_id));
}

}  // namespace

IdGenerator::IdGenerator(int worker_id, Clock& clock) : m_clock(clock), m_worker_id(worker_id) {
    check_worker_id(worker_id);
}

std::int64_t IdGenerator::next() {
    const std::int64_t now = m_clock.wall_micros() / 1000 - k_epoch_millis;
    std::lock_guard lock(m_mutex);
    if (now > m_last_millis) {
        m_last_millis = now;
        m_sequence = 0;
    } else if (++m_sequence >> k_sequence_bits) {
        // This millisecond is used up (or the clock stepped back): borrow the
        // next one rather than wait or repeat.
        ++m_last_millis;
        m_sequence = 0;
    }
    if (m_last_millis < 0) throw Error(Code::internal, "the system clock is before 2020-01-01: cannot generate ids");
    return (m_last_millis << (k_worker_bits + k_sequence_bits)) |
           (static_cast<std::int64_t>(m_worker_id) << k_sequence_bits) | m_sequence;
}

int IdGenerator::worker_id() const {
    std::lock_guard lock(m_mutex);
    return m_worker_id;
}

void IdGenerator::set_worker_id(int worker_id) {
    check_worker_id(worker_id);
    std::lock_guard lock(m_mutex);
    m_worker_id = worker_id;
    // Ids stay increasing across the switch: the next one starts a new millisecond.
    if (m_last_millis >= 0) {
        ++m_last_millis;
        m_sequence = -1;
    }
}

IdParts IdGenerator::decode(std::int64_t id) {
    IdParts p;
    p.millis_since_epoch = id >> (k_worker_bits + k_sequence_bits);
    p.worker_id = static_cast<int>((id >> k_sequence_bits) & k_max_worker_id);
    p.sequence = static_cast<int>(id & ((1 << k_sequence_bits) - 1));
    return p;
}

int IdGenerator::default_worker_id() {
    std::random_device random;
    const auto mixed = static_cast<std::uint32_t>(::getpid()) * 2654435761u ^ random();
    return static_cast<int>(mixed & k_max_worker_id);
}

IdGenerator& IdGenerator::global() {
    static IdGenerator generator;
    return generator;
}

}  // namespace webook
