// The side that cuts the checksum chunks, running ahead (chunk_lead.h).
#include "validate/chunk_lead.h"

#include <algorithm>
#include <utility>

namespace webook {

ChunkLead::ChunkLead(Cut cut, std::optional<Row> after, std::size_t depth)
    : m_cut(std::move(cut)), m_depth(std::max<std::size_t>(depth, 1)), m_after(std::move(after)) {
    m_thread = std::thread([this] { work(); });
}

ChunkLead::~ChunkLead() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    m_changed.notify_all();
    m_thread.join();
}

LeadingChunk ChunkLead::next() {
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [&] { return !m_ready.empty() || m_error; });
    if (m_ready.empty()) std::rethrow_exception(m_error);
    LeadingChunk chunk = std::move(m_ready.front());
    m_ready.pop_front();
    m_changed.notify_all();  // room to cut one more
    return chunk;
}

void ChunkLead::pause() {
    std::unique_lock lock(m_mutex);
    m_paused = true;
    m_changed.wait(lock, [&] { return !m_busy; });
}

void ChunkLead::resume() {
    {
        std::lock_guard lock(m_mutex);
        m_paused = false;
    }
    m_changed.notify_all();
}

void ChunkLead::work() {
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_changed.wait(lock, [&] { return m_stopping || (!m_end && !m_paused && m_ready.size() < m_depth); });
        if (m_stopping) return;
        const std::optional<Row> after = m_after;
        m_busy = true;
        lock.unlock();
        std::optional<LeadingChunk> chunk;
        std::exception_ptr error;
        try {
            chunk = m_cut(after);
        } catch (...) {
            error = std::current_exception();
        }
        lock.lock();
        m_busy = false;
        if (error) {
            m_error = error;
            m_end = true;
        } else {
            m_end = !chunk->up_to;
            if (chunk->up_to) m_after = chunk->up_to;
            m_ready.push_back(std::move(*chunk));
        }
        m_changed.notify_all();
    }
}

}  // namespace webook
