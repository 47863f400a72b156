#include "fixers/event_input.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "core/error.h"
#include "core/kafka.h"

namespace webook {
namespace {

class FileInput final : public EventInput {
public:
    explicit FileInput(std::string path) : m_path(std::move(path)), m_in(m_path) {
        if (!m_in)
            throw Error(Code::config, fmt::format("cannot read events from {}: {}", m_path, std::strerror(errno)));
    }

    std::vector<InputItem> poll(std::size_t max, std::chrono::milliseconds) override {
        std::vector<InputItem> items;
        std::string line;
        while (items.size() < max && std::getline(m_in, line)) {
            ++m_line;
            if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines
            items.push_back({line, fmt::format("{}:{}", m_path, m_line)});
        }
        if (m_in.bad()) throw Error(Code::config, fmt::format("cannot read events from {}", m_path));
        if (items.size() < max) m_eof = true;
        return items;
    }

    bool idle() const override { return m_eof; }
    void commit(const std::vector<InputItem>&) override {}
    std::string describe() const override { return "file://" + m_path; }

private:
    std::string m_path;
    std::ifstream m_in;
    std::uint64_t m_line = 0;
    bool m_eof = false;
};

class KafkaInput final : public EventInput {
public:
    KafkaInput(const KafkaUrl& url, const ConsumerSettings& s)
        : m_url(url), m_consumer(url.brokers, s.group, url.topic, options(s)) {}

    std::vector<InputItem> poll(std::size_t max, std::chrono::milliseconds max_wait) override {
        std::vector<InputItem> items;
        for (auto& m : m_consumer.poll_batch(max, max_wait)) {
            InputItem item{std::move(m.payload), fmt::format("{}/{}@{}", m.topic, m.partition, m.offset),
                           m.partition, m.offset};
            items.push_back(std::move(item));
        }
        return items;
    }

    bool idle() const override { return m_consumer.caught_up(); }

    void commit(const std::vector<InputItem>& items) override {
        std::vector<EventConsumer::Message> done;
        for (const auto& i : items) done.push_back({m_url.topic, i.partition, i.offset, {}, {}});
        if (!done.empty()) m_consumer.commit(done);
    }

    std::string describe() const override { return m_url.str() + " (group " + m_consumer.group_id() + ")"; }

private:
    static ConsumerOptions options(const ConsumerSettings& s) {
        ConsumerOptions o;
        o.client_id = "webookctl-fix";
        o.session_timeout = s.session_timeout;
        o.heartbeat_interval = s.heartbeat_interval;
        return o;
    }

    KafkaUrl m_url;
    EventConsumer m_consumer;
};

}  // namespace

std::unique_ptr<EventInput> open_input(std::string_view url, const ConsumerSettings& settings) {
    if (url.starts_with("file://")) {
        std::string path(url.substr(7));
        if (path.empty()) throw Error(Code::usage, "file:// input without a path");
        return std::make_unique<FileInput>(path);
    }
    if (url.starts_with("kafka://")) {
        if (settings.group.empty()) throw Error(Code::usage, "--from kafka://... needs --group NAME");
        KafkaUrl parsed = KafkaUrl::parse(url);
        check_brokers(parsed.brokers);
        return std::make_unique<KafkaInput>(parsed, settings);
    }
    throw Error(Code::usage, fmt::format("unknown event input '{}': use kafka://host:port/topic or file://path.jsonl",
                                         url));
}

}  // namespace webook
