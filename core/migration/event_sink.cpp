#include "core/migration/event_sink.h"

#include <sys/stat.h>
#include <unistd.h>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/messaging/event_input.h"
#include "core/messaging/kafka.h"
#include "core/migration/event.h"

namespace webook {
namespace {

class FileSink final : public EventSink {
public:
    FileSink(std::FILE* file, std::string path, bool owned) : m_file(file), m_path(std::move(path)), m_owned(owned) {}
    ~FileSink() override {
        if (m_owned && m_file) std::fclose(m_file);
    }

    void write(std::string_view, std::string_view line) override {
        if (std::fwrite(line.data(), 1, line.size(), m_file) != line.size() || std::fputc('\n', m_file) == EOF)
            throw Error(Code::config, fmt::format("cannot write events to {}: {}", m_path, std::strerror(errno)));
        ++m_written;
    }

    void flush() override {
        if (std::fflush(m_file) != 0 || (m_owned && is_regular() && ::fsync(fileno(m_file)) != 0))
            throw Error(Code::config, fmt::format("cannot write events to {}: {}", m_path, std::strerror(errno)));
    }

    std::string describe() const override { return m_owned ? "file://" + m_path : "stdout"; }

private:
    // fsync is meaningless (EINVAL) on pipes and devices such as /dev/null.
    bool is_regular() const {
        struct stat st {};
        return ::fstat(fileno(m_file), &st) == 0 && S_ISREG(st.st_mode);
    }

    std::FILE* m_file;
    std::string m_path;
    bool m_owned;
};

class KafkaSink final : public EventSink {
public:
    explicit KafkaSink(const KafkaUrl& url) : m_url(url), m_producer(url.brokers, url.topic) {}

    void write(std::string_view key, std::string_view line) override {
        m_producer.send(key, line);
        ++m_written;
    }

    void flush() override { m_producer.flush(); }

    std::string describe() const override { return m_url.str(); }

private:
    KafkaUrl m_url;
    EventProducer m_producer;
};

}  // namespace

void EventSink::write(const InconsistencyEvent& event) {
    write(event.message_key(), event.to_json());
}

std::unique_ptr<EventSink> open_sink(std::string_view url) {
    if (url == "-") return std::make_unique<FileSink>(stdout, "stdout", false);
    if (url.starts_with("file://")) {
        std::string path(url.substr(7));
        if (path.empty()) throw Error(Code::usage, "file:// sink without a path");
        std::FILE* f = std::fopen(path.c_str(), "a");
        if (f == nullptr)
            throw Error(Code::config, fmt::format("cannot open sink file {}: {}", path, std::strerror(errno)));
        return std::make_unique<FileSink>(f, path, true);
    }
    if (url.starts_with("kafka://")) {
        KafkaUrl parsed = KafkaUrl::parse(url);
        check_brokers(parsed.brokers);
        return std::make_unique<KafkaSink>(parsed);
    }
    throw Error(Code::usage,
                fmt::format("unknown sink '{}': use kafka://host:port/topic, file://path.jsonl or -", url));
}

void write_dead_letter(EventSink* sink, const InputItem& item, std::string_view why, std::string_view component) {
    if (sink == nullptr) {
        log::get(component)->error("dead letter from {}: {}: {}", item.origin, why, item.payload);
        return;
    }
    nlohmann::ordered_json j;
    j["error"] = why;
    j["origin"] = item.origin;
    j["payload"] = item.payload;
    j["at"] = utc_now_iso();
    sink->write(item.origin, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    log::get(component)->warn("dead letter from {}: {}", item.origin, why);
}

}  // namespace webook
