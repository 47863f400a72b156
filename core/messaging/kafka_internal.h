// Internal to core/messaging/: what kafka.cpp, kafka_producer.cpp and
// kafka_consumer.cpp share -- the "kafka" logger, timeouts as librdkafka's int
// milliseconds, error classification, EventBridge and the Conf setters.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <librdkafka/rdkafkacpp.h>

#include "core/base/error.h"
#include "core/base/log.h"

namespace webook::kafka_detail {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The "kafka" logger.
const log::Logger& logger();

// `d` in whole milliseconds, clamped to [0, 1e9]: librdkafka's timeouts are int.
int to_int_ms(milliseconds d);

// What is left until `deadline`, in milliseconds rounded up (0 once passed).
int remaining_ms(Steady::time_point deadline);

// Failures that may go away by themselves: worth retrying the operation.
bool is_temporary(RdKafka::ErrorCode err);

Temporary temporary_if(bool yes);

// Routes librdkafka's log lines into the "kafka" logger and remembers the
// last broker-level error, to explain a timeout ("Message timed out") with
// its cause ("Connect to ... failed: Connection refused"). Log events come
// from librdkafka's own threads, error events from poll()/consume(): hence
// the mutex.
class EventBridge : public RdKafka::EventCb {
public:
    explicit EventBridge(std::string brokers) : m_brokers(std::move(brokers)) {}

    void event_cb(RdKafka::Event& event) override {
        switch (event.type()) {
        case RdKafka::Event::EVENT_ERROR: on_error(event); break;
        case RdKafka::Event::EVENT_LOG: on_log(event); break;
        case RdKafka::Event::EVENT_THROTTLE:
            logger().debug("throttled {} ms by broker {}", event.throttle_time(), event.broker_name());
            break;
        case RdKafka::Event::EVENT_STATS: break;
        }
    }

    // Set once every broker of the list is down; cleared by clear_brokers_down().
    bool all_brokers_down() const { return m_all_down.load(); }
    void clear_brokers_down() { m_all_down = false; }

    // The last broker-level error seen, or empty.
    std::string last_error() const {
        std::lock_guard lock(m_mutex);
        return m_last_error;
    }

    // `reason`, followed by the last broker error if there is one.
    std::string explain(std::string_view reason) const {
        std::string last = last_error();
        if (last.empty() || last == reason) return std::string(reason);
        return fmt::format("{} (last broker error: {})", reason, last);
    }

private:
    void on_error(const RdKafka::Event& event) {
        const RdKafka::ErrorCode err = event.err();
        const std::string text = event.str().empty() ? RdKafka::err2str(err) : event.str();
        if (event.fatal()) {
            logger().error("fatal error from {}: {}", m_brokers, text);
        } else if (err == RdKafka::ERR__ALL_BROKERS_DOWN) {
            // Reported to the caller as an Error by whichever call needs
            // the brokers; logging it as well would say it twice.
            m_all_down = true;
            logger().debug("{}", text);
            return;  // "3/3 brokers are down" says less than the error before it
        } else if (is_temporary(err)) {
            logger().debug("{}", text);  // librdkafka reconnects by itself
        } else {
            logger().warn("{}", text);
        }
        std::lock_guard lock(m_mutex);
        m_last_error = text;
    }

    void on_log(const RdKafka::Event& event) {
        const std::string fac = event.fac();
        // Connection failures arrive twice, as a log line and as an error
        // event; the error event is the one reported. AUTOCREATE warns that
        // a broker without Metadata v4 (the mock cluster) may create a topic
        // a consumer merely subscribes to: harmless for an event topic.
        const bool noise = fac == "FAIL" || fac == "ERROR" || fac == "AUTOCREATE";
        if (event.severity() <= RdKafka::Event::EVENT_SEVERITY_WARNING && !noise)
            logger().warn("{}: {}", fac, event.str());
        else
            logger().debug("{}: {}", fac, event.str());
    }

    std::string m_brokers;
    std::atomic<bool> m_all_down{false};
    mutable std::mutex m_mutex;
    std::string m_last_error;
};

// Sets `name` to `value`; throws Error(Code::config) if librdkafka refuses.
void set(RdKafka::Conf& conf, const std::string& name, const std::string& value);

template <typename Callback>
void set_callback(RdKafka::Conf& conf, const std::string& name, Callback* cb) {
    std::string errstr;
    if (conf.set(name, cb, errstr) != RdKafka::Conf::CONF_OK)
        throw Error(Code::internal, fmt::format("Kafka setting {}: {}", name, errstr));
}

// Settings shared by every handle.
std::unique_ptr<RdKafka::Conf> base_conf(const std::string& brokers, const std::string& client_id, EventBridge* events);

}  // namespace webook::kafka_detail
