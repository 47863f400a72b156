// Internal to validate/: the side that cuts the checksum chunks, running
// ahead of the other.
//
// The cutting side hashes its next chunk_rows rows and says where they end
// (run_leading_chunk) on a thread of its own, up to `depth` chunks ahead,
// while the other side hashes the chunks already cut: each server always
// has a query to run, and neither waits for the other's round trip. A chunk
// that differs is merged row by row on both connections, so the cutting
// side is paused for it (the query in flight finishes; the chunks cut ahead
// stay valid and are used after the merge).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "validate/checksum.h"

namespace webook {

class ChunkLead {
public:
    // `cut(after)` returns the chunk after `after` (run_leading_chunk on the
    // cutting side's connection); it is called on the lead's thread only,
    // with the chunks in key order, the first after `after`.
    using Cut = std::function<LeadingChunk(const std::optional<Row>& after)>;
    ChunkLead(Cut cut, std::optional<Row> after, std::size_t depth = 2);
    ~ChunkLead();  // stops, after the query in flight
    ChunkLead(const ChunkLead&) = delete;
    ChunkLead& operator=(const ChunkLead&) = delete;

    // The next chunk, in key order; waits for it. Rethrows the error that
    // ended the cutting. Not called again after the final chunk (up_to none).
    LeadingChunk next();
    // Waits until no query runs on the cutting side's connection, and keeps
    // it free until resume().
    void pause();
    void resume();

private:
    void work();

    Cut m_cut;
    std::size_t m_depth;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<LeadingChunk> m_ready;
    std::optional<Row> m_after;  // where the next chunk starts
    bool m_end = false;          // the final chunk is cut (or cutting failed)
    bool m_paused = false;
    bool m_busy = false;  // a query runs
    bool m_stopping = false;
    std::exception_ptr m_error;
    std::thread m_thread;  // last: started once the rest is set
};

}  // namespace webook
