#include "core/migration/prefetch.h"

namespace webook {

Prefetcher::Prefetcher(BatchSource& source, std::size_t depth)
    : m_source(source), m_depth(depth == 0 ? 1 : depth), m_thread([this] { run(); }) {}

Prefetcher::~Prefetcher() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_changed.notify_all();
    m_thread.join();
}

void Prefetcher::run() {
    try {
        while (true) {
            {
                std::unique_lock lock(m_mutex);
                m_changed.wait(lock, [&] { return m_stop || m_ready.size() < m_depth; });
                if (m_stop) return;
            }
            std::vector<Row> batch;
            {
                std::lock_guard lock(m_mutex);
                if (!m_spare.empty()) {
                    batch = std::move(m_spare.back());
                    m_spare.pop_back();
                }
            }
            bool more = m_source.next(batch);
            std::lock_guard lock(m_mutex);
            if (!more) {
                m_finished = true;
                m_changed.notify_all();
                return;
            }
            m_ready.push_back(std::move(batch));
            m_changed.notify_all();
        }
    } catch (...) {
        std::lock_guard lock(m_mutex);
        m_error = std::current_exception();
        m_finished = true;
        m_changed.notify_all();
    }
}

bool Prefetcher::next(std::vector<Row>& out) {
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [&] { return !m_ready.empty() || m_finished; });
    if (!m_ready.empty()) {
        // The caller's old batch goes back to the reading thread, whose source
        // overwrites its rows in place: no allocation per row once warm.
        std::swap(out, m_ready.front());
        if (m_spare.size() <= m_depth && !m_ready.front().empty()) m_spare.push_back(std::move(m_ready.front()));
        m_ready.pop_front();
        m_changed.notify_all();
        return true;
    }
    out.clear();
    if (m_error) std::rethrow_exception(m_error);
    return false;
}

}  // namespace webook
