#include "core/messaging/event_input.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/messaging/kafka.h"

namespace webook {
namespace {

// Reads a JSONL file like `tail -f`: at the end of the file it waits for
// lines to be appended (a fixer without --until-idle follows a file that a
// validator keeps appending to) instead of returning at once, which would
// make the fixer's loop spin. A last line without '\n' may be one its writer
// has not finished: it is held back, and taken as it is once a whole wait
// passes without it growing (a file whose last line lacks the newline).
class FileInput final : public EventInput {
public:
    explicit FileInput(std::string path) : m_path(std::move(path)), m_in(m_path) {
        if (!m_in)
            throw Error(Code::config, fmt::format("cannot read events from {}: {}", m_path, std::strerror(errno)));
    }

    // Returns at once what there is up to `max`; only a call that finds
    // nothing new waits, up to max_wait.
    std::vector<InputItem> poll(std::size_t max, std::chrono::milliseconds max_wait) override {
        std::vector<InputItem> items;
        const auto deadline = std::chrono::steady_clock::now() + max_wait;
        bool read_something = false;
        m_at_end = false;
        while (items.size() < max) {
            std::string text;
            if (std::getline(m_in, text)) {
                read_something = true;
                if (!m_in.eof()) {
                    add(items, m_partial + text);
                    m_partial.clear();
                    continue;
                }
                m_partial += text;  // no '\n' yet
            }
            if (m_in.bad()) throw Error(Code::config, fmt::format("cannot read events from {}", m_path));
            m_in.clear();  // at the end for now; the next getline() sees appended lines
            m_at_end = true;
            if (read_something || !items.empty()) break;
            const auto now = std::chrono::steady_clock::now();
            if (now >= deadline || interrupted()) {
                if (!m_partial.empty()) add(items, std::exchange(m_partial, {}));
                break;
            }
            std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(deadline - now, k_wait_step));
        }
        if (!m_at_end && m_partial.empty() && m_in.peek() == std::ifstream::traits_type::eof()) {
            m_in.clear();  // a full batch that ended exactly at the end of the file
            m_at_end = true;
        }
        return items;
    }

    bool idle() const override { return m_at_end && m_partial.empty(); }
    void commit(const std::vector<InputItem>&) override {}
    std::string describe() const override { return "file://" + m_path; }

private:
    static constexpr std::chrono::milliseconds k_wait_step{20};

    void add(std::vector<InputItem>& items, std::string line) {
        ++m_line;
        if (line.find_first_not_of(" \t\r") == std::string::npos) return;  // blank lines
        items.push_back({std::move(line), fmt::format("{}:{}", m_path, m_line)});
    }

    std::string m_path;
    std::ifstream m_in;
    std::string m_partial;  // the start of a line whose '\n' has not been read yet
    std::uint64_t m_line = 0;
    bool m_at_end = false;
};

class KafkaInput final : public EventInput {
public:
    KafkaInput(const KafkaUrl& url, const std::string& group, const ConsumerOptions& options)
        : m_url(url), m_consumer(url.brokers, group, url.topic, options) {}

    std::vector<InputItem> poll(std::size_t max, std::chrono::milliseconds max_wait) override {
        std::vector<InputItem> items;
        for (auto& m : m_consumer.poll_batch(max, max_wait)) {
            InputItem item{std::move(m.payload), fmt::format("{}/{}@{}", m.topic, m.partition, m.offset), m.partition,
                           m.offset};
            items.push_back(std::move(item));
        }
        return items;
    }

    bool idle() const override { return m_consumer.caught_up(); }
    std::optional<std::int64_t> lag() const override { return m_consumer.lag(); }

    void commit(const std::vector<InputItem>& items) override {
        std::vector<EventConsumer::Message> done;
        for (const auto& i : items) done.push_back({m_url.topic, i.partition, i.offset, {}, {}});
        if (!done.empty()) m_consumer.commit(done);
    }

    std::string describe() const override { return m_url.str() + " (group " + m_consumer.group_id() + ")"; }

private:
    KafkaUrl m_url;
    EventConsumer m_consumer;
};

}  // namespace

std::unique_ptr<EventInput> open_input(std::string_view url, const std::string& group, ConsumerOptions options) {
    if (url.starts_with("file://")) {
        std::string path(url.substr(7));
        if (path.empty()) throw Error(Code::usage, "file:// input without a path");
        return std::make_unique<FileInput>(path);
    }
    if (url.starts_with("kafka://")) {
        if (group.empty()) throw Error(Code::usage, "--from kafka://... needs --group NAME");
        KafkaUrl parsed = KafkaUrl::parse(url);
        check_brokers(parsed.brokers);
        options.validate();
        return std::make_unique<KafkaInput>(parsed, group, options);
    }
    throw Error(Code::usage,
                fmt::format("unknown event input '{}': use kafka://host:port/topic or file://path.jsonl", url));
}

}  // namespace webook
