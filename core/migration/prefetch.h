// Overlaps reading with the work on what was read.
//
// A Prefetcher runs another BatchSource's next() on its own thread and keeps
// up to `depth` batches ready, so the database streams the next batch while
// the caller compares or writes the current one. The batch a caller hands
// back to next() is reused for a later read (its rows overwritten in place).
// An exception on the reading thread is rethrown by the next call to next().
// The wrapped source (and its connection) belong to the reading thread until
// the Prefetcher is destroyed.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "core/migration/keyset.h"

namespace webook {

class Prefetcher final : public BatchSource {
public:
    Prefetcher(BatchSource& source, std::size_t depth = 2);
    ~Prefetcher() override;  // stops and joins the reading thread
    Prefetcher(const Prefetcher&) = delete;
    Prefetcher& operator=(const Prefetcher&) = delete;

    bool next(std::vector<Row>& out) override;

private:
    void run();

    BatchSource& m_source;
    std::size_t m_depth;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<std::vector<Row>> m_ready;
    std::vector<std::vector<Row>> m_spare;  // consumed batches, for reuse
    std::exception_ptr m_error;
    bool m_finished = false;
    bool m_stop = false;
    std::thread m_thread;
};

}  // namespace webook
