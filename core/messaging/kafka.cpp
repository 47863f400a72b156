// Kafka wrappers over librdkafka's C++ API.
//
// Delivery accounting (EventProducer): every event gets a delivery report in
// the thread that calls send()/flush() (librdkafka serves them from poll()).
// Events are grouped in "windows" -- everything sent since the previous
// flush(); each event carries its window number as its opaque, so a report
// that arrives late (after its window was reported) cannot be counted twice.
// flush() ends the window: it waits, purges what is still undelivered at the
// timeout so every event of the window has a final outcome, and throws if any
// failed.
//
// End-of-topic detection (EventConsumer): enable.partition.eof makes
// librdkafka emit one PARTITION_EOF per partition each time the consumer
// reaches its end. A partition is "at end" from its EOF until its next
// message; the assignment is tracked by our rebalance callback (which is also
// where librdkafka needs us to call assign()/unassign()). A rebalance clears
// "joined" until the new assignment arrives, so caught_up() is never true
// from stale state. A partition revoked while poll_batch() collects is read
// again from its committed offset by whoever gets it -- this member too, if
// it is assigned back -- so what the batch holds from it is dropped.
//
// The mock cluster (tests/kafka_mock) answers Metadata only up to v2, so it
// auto-creates topics a consumer subscribes to although we ask it not to;
// a real broker reports them unknown, and librdkafka then does not even join
// the group: caught_up() relies on that error instead of an assignment.
#include "core/messaging/kafka.h"

#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <map>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/base/error.h"
#include "core/base/log.h"

namespace webook {
namespace {

using Steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

const log::Logger& logger() {
    static const log::Logger* l = log::get("kafka");
    return *l;
}

constexpr int k_default_port = 9092;
constexpr std::size_t k_max_topic_length = 249;

// Why `topic` is not a valid Kafka topic name, or empty if it is.
std::string topic_name_problem(std::string_view topic) {
    if (topic.empty()) return "empty topic name";
    if (topic.size() > k_max_topic_length)
        return fmt::format("topic name longer than {} characters", k_max_topic_length);
    if (topic == "." || topic == "..") return fmt::format("'{}' is not a valid topic name", topic);
    for (char c : topic) {
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
            return fmt::format("invalid topic name '{}' (allowed: letters, digits, '.', '_', '-')", topic);
    }
    return {};
}

int to_int_ms(milliseconds d) {
    return static_cast<int>(std::clamp<milliseconds::rep>(d.count(), 0, 1'000'000'000));
}

int remaining_ms(Steady::time_point deadline) {
    return to_int_ms(std::chrono::ceil<milliseconds>(deadline - Steady::now()));
}

// Failures that may go away by themselves: worth retrying the operation.
bool is_temporary(RdKafka::ErrorCode err) {
    switch (err) {
    case RdKafka::ERR__MSG_TIMED_OUT:
    case RdKafka::ERR__TIMED_OUT:
    case RdKafka::ERR__TRANSPORT:
    case RdKafka::ERR__ALL_BROKERS_DOWN:
    case RdKafka::ERR__RESOLVE:
    case RdKafka::ERR__PURGE_QUEUE:
    case RdKafka::ERR__PURGE_INFLIGHT:
    case RdKafka::ERR__QUEUE_FULL:
    case RdKafka::ERR_REQUEST_TIMED_OUT:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS:
    case RdKafka::ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RdKafka::ERR_LEADER_NOT_AVAILABLE:
    case RdKafka::ERR_NOT_LEADER_FOR_PARTITION:
    case RdKafka::ERR_NETWORK_EXCEPTION:
    case RdKafka::ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RdKafka::ERR_COORDINATOR_NOT_AVAILABLE:
    case RdKafka::ERR_NOT_COORDINATOR:
    case RdKafka::ERR_REBALANCE_IN_PROGRESS:
    case RdKafka::ERR_ILLEGAL_GENERATION:
    case RdKafka::ERR_UNKNOWN_MEMBER_ID: return true;
    default: return false;
    }
}

Temporary temporary_if(bool yes) {
    return yes ? Temporary::yes : Temporary::no;
}

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

void set(RdKafka::Conf& conf, const std::string& name, const std::string& value) {
    std::string errstr;
    if (conf.set(name, value, errstr) != RdKafka::Conf::CONF_OK)
        throw Error(Code::config, fmt::format("Kafka setting {}={}: {}", name, value, errstr));
}

template <typename Callback>
void set_callback(RdKafka::Conf& conf, const std::string& name, Callback* cb) {
    std::string errstr;
    if (conf.set(name, cb, errstr) != RdKafka::Conf::CONF_OK)
        throw Error(Code::internal, fmt::format("Kafka setting {}: {}", name, errstr));
}

// Settings shared by every handle.
std::unique_ptr<RdKafka::Conf> base_conf(const std::string& brokers, const std::string& client_id,
                                         EventBridge* events) {
    if (brokers.empty()) throw Error(Code::config, "empty Kafka broker list");
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    set(*conf, "bootstrap.servers", brokers);
    set(*conf, "client.id", client_id);
    set_callback(*conf, "event_cb", static_cast<RdKafka::EventCb*>(events));
    return conf;
}

std::string join_partitions(const std::vector<RdKafka::TopicPartition*>& partitions) {
    std::vector<std::int32_t> ids;
    ids.reserve(partitions.size());
    for (const auto* tp : partitions) ids.push_back(tp->partition());
    std::sort(ids.begin(), ids.end());
    return fmt::format("[{}]", fmt::join(ids, ","));
}

bool parse_port(std::string_view text, int& port) {
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
    return ec == std::errc() && p == text.data() + text.size() && port >= 1 && port <= 65535;
}

bool valid_host(std::string_view host, bool bracketed) {
    if (host.empty()) return false;
    for (char c : host) {
        const bool ok = bracketed ? (std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')
                                  : (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_');
        if (!ok) return false;
    }
    return true;
}

// A URL as shown in errors: anything before an '@' masked.
std::string mask(std::string_view text) {
    std::string out(text);
    auto scheme = out.find("://");
    auto at = out.find('@');
    if (scheme != std::string::npos && at != std::string::npos && at > scheme)
        out.replace(scheme + 3, at - scheme - 3, "***");
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// KafkaUrl

KafkaUrl KafkaUrl::parse(std::string_view text) {
    auto fail = [&](std::string_view why) {
        return Error(Code::config, fmt::format("malformed Kafka URL '{}': {} (expected "
                                               "kafka://host:port[,host:port...]/topic)",
                                               mask(text), why));
    };
    auto scheme_end = text.find("://");
    if (scheme_end == std::string_view::npos) throw fail("no scheme");
    if (std::string_view scheme = text.substr(0, scheme_end); scheme != "kafka")
        throw fail(fmt::format("unknown scheme '{}'", scheme));
    std::string_view rest = text.substr(scheme_end + 3);
    if (rest.find_first_of("?#") != std::string_view::npos) throw fail("query parameters are not supported");

    auto slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    if (authority.find('@') != std::string_view::npos) throw fail("credentials are not supported in the URL");
    if (authority.empty()) throw fail("no broker address");
    if (slash == std::string_view::npos || slash + 1 == rest.size()) throw fail("no topic");

    KafkaUrl url;
    url.topic = std::string(rest.substr(slash + 1));
    if (std::string problem = topic_name_problem(url.topic); !problem.empty()) throw fail(problem);

    while (true) {
        auto comma = authority.find(',');
        std::string_view entry = authority.substr(0, comma);
        if (entry.empty()) throw fail("empty broker address in the list");
        std::string_view host;
        std::string_view port_text;
        bool bracketed = false;
        if (entry.front() == '[') {  // [::1]:9092
            auto close = entry.find(']');
            if (close == std::string_view::npos) throw fail("unterminated IPv6 address");
            host = entry.substr(1, close - 1);
            bracketed = true;
            std::string_view after = entry.substr(close + 1);
            if (after == ":") throw fail(fmt::format("missing port in '{}'", entry));
            if (!after.empty() && after.front() != ':')
                throw fail(fmt::format("junk after IPv6 address in '{}'", entry));
            if (!after.empty()) port_text = after.substr(1);
        } else {
            auto colon = entry.find(':');
            host = entry.substr(0, colon);
            if (colon != std::string_view::npos) {
                port_text = entry.substr(colon + 1);
                if (port_text.empty()) throw fail(fmt::format("missing port in '{}'", entry));
            }
        }
        if (!valid_host(host, bracketed)) throw fail(fmt::format("invalid host in '{}'", entry));
        int port = k_default_port;
        if (!port_text.empty() && !parse_port(port_text, port)) throw fail(fmt::format("invalid port '{}'", port_text));
        if (!url.brokers.empty()) url.brokers += ',';
        url.brokers += bracketed ? fmt::format("[{}]:{}", host, port) : fmt::format("{}:{}", host, port);
        if (comma == std::string_view::npos) break;
        authority.remove_prefix(comma + 1);
    }
    return url;
}

std::string KafkaUrl::str() const {
    return fmt::format("kafka://{}/{}", brokers, topic);
}

void validate_topic_name(std::string_view topic) {
    if (std::string problem = topic_name_problem(topic); !problem.empty()) throw Error(Code::config, problem);
}

// ---------------------------------------------------------------------------
// check_brokers

void check_brokers(const std::string& brokers, milliseconds timeout) {
    EventBridge events(brokers);  // declared first: outlives the handle
    auto conf = base_conf(brokers, "webookctl", &events);
    std::string errstr;
    std::unique_ptr<RdKafka::Producer> handle(RdKafka::Producer::create(conf.get(), errstr));
    if (!handle) throw Error(Code::config, fmt::format("Kafka client for {}: {}", brokers, errstr));

    // Short metadata requests in a loop rather than one long one, so "every
    // broker is down" (refused, unresolvable) fails at once instead of
    // after the whole timeout.
    const auto deadline = Steady::now() + timeout;
    RdKafka::ErrorCode err = RdKafka::ERR__TIMED_OUT;
    while (true) {
        RdKafka::Metadata* raw = nullptr;
        err = handle->metadata(false, nullptr, &raw, std::clamp(remaining_ms(deadline), 1, 250));
        std::unique_ptr<RdKafka::Metadata> metadata(raw);
        if (err == RdKafka::ERR_NO_ERROR && metadata && !metadata->brokers()->empty()) {
            logger().debug("Kafka at {} answers: {} broker(s)", brokers, metadata->brokers()->size());
            return;
        }
        handle->poll(0);  // serves the error events
        if (events.all_brokers_down() || Steady::now() >= deadline) break;
    }
    throw Error(Code::connection,
                fmt::format("cannot reach Kafka at {}: {}", brokers,
                            events.last_error().empty()
                                ? fmt::format("{} (no answer within {} ms)", RdKafka::err2str(err), timeout.count())
                                : events.last_error()),
                Temporary::yes);
}

// ---------------------------------------------------------------------------
// EventProducer

void ProducerOptions::validate() const {
    if (client_id.empty()) throw Error(Code::config, "Kafka producer: empty client id");
    if (delivery_timeout < milliseconds(1))
        throw Error(Code::config, "Kafka producer: delivery timeout must be at least 1 ms");
    if (linger < milliseconds(0) || linger >= delivery_timeout)
        throw Error(Code::config, "Kafka producer: linger must be between 0 and the delivery timeout");
    if (max_queued_events < 1) throw Error(Code::config, "Kafka producer: max queued events must be at least 1");
}

struct EventProducer::Impl : RdKafka::DeliveryReportCb {
    // The events of one window (see the top of the file).
    struct Window {
        std::uint64_t number = 0;
        std::uint64_t sent = 0;
        std::uint64_t delivered = 0;
        std::uint64_t failed = 0;
        RdKafka::ErrorCode first_error = RdKafka::ERR_NO_ERROR;
        std::string first_reason;
    };

    Impl(std::string brokers_, std::string topic_, ProducerOptions options_)
        : brokers(std::move(brokers_)), topic(std::move(topic_)), options(std::move(options_)), events(brokers) {}

    ~Impl() override {
        if (!producer) return;
        const std::uint64_t unflushed = window.sent - window.delivered;
        if (unflushed > 0)
            logger().error("{} of {} events to topic {} at {} were never flushed and may be lost", unflushed,
                           window.sent, topic, brokers);
        producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
        producer->poll(0);
    }

    void dr_cb(RdKafka::Message& message) override {
        const auto number = reinterpret_cast<std::uintptr_t>(message.msg_opaque());
        const bool ok = message.err() == RdKafka::ERR_NO_ERROR;
        ok ? ++delivered : ++failed;
        if (number != window.number) {
            // Its window was already reported as not delivered.
            logger().debug("late delivery report for an event already reported: {}",
                           ok ? "delivered after all" : message.errstr());
            return;
        }
        if (ok) {
            ++window.delivered;
            return;
        }
        ++window.failed;
        const bool purged_by_us =
            message.err() == RdKafka::ERR__PURGE_QUEUE || message.err() == RdKafka::ERR__PURGE_INFLIGHT;
        if (window.first_error == RdKafka::ERR_NO_ERROR && !purged_by_us) {
            window.first_error = message.err();
            window.first_reason = message.errstr();
        }
    }

    std::string brokers;
    std::string topic;
    ProducerOptions options;
    std::uint64_t sent = 0;
    std::uint64_t delivered = 0;
    std::uint64_t failed = 0;
    Window window;
    EventBridge events;
    std::unique_ptr<RdKafka::Producer> producer;  // last: destroyed before its callbacks
};

EventProducer::EventProducer(std::string brokers, std::string topic, ProducerOptions options) {
    validate_topic_name(topic);
    options.validate();
    m_impl = std::make_unique<Impl>(std::move(brokers), std::move(topic), std::move(options));
    Impl& impl = *m_impl;
    auto conf = base_conf(impl.brokers, impl.options.client_id, &impl.events);
    // No duplicates or reordering from librdkafka's own retries.
    set(*conf, "enable.idempotence", "true");
    set(*conf, "acks", "all");
    set(*conf, "message.timeout.ms", std::to_string(impl.options.delivery_timeout.count()));
    set(*conf, "linger.ms", std::to_string(impl.options.linger.count()));
    set(*conf, "queue.buffering.max.messages", std::to_string(impl.options.max_queued_events));
    // The Java client's partitioner: a key lands in the same partition
    // whichever client wrote it.
    set(*conf, "partitioner", "murmur2_random");
    set_callback(*conf, "dr_cb", static_cast<RdKafka::DeliveryReportCb*>(&impl));
    std::string errstr;
    impl.producer.reset(RdKafka::Producer::create(conf.get(), errstr));
    if (!impl.producer) throw Error(Code::config, fmt::format("Kafka producer for {}: {}", impl.brokers, errstr));
    logger().debug("producer for topic {} at {}", impl.topic, impl.brokers);
}

EventProducer::~EventProducer() = default;
EventProducer::EventProducer(EventProducer&&) noexcept = default;
EventProducer& EventProducer::operator=(EventProducer&&) noexcept = default;

void EventProducer::send(std::string_view key, std::string_view payload) {
    Impl& impl = *m_impl;
    const auto deadline = Steady::now() + impl.options.delivery_timeout;
    auto* opaque = reinterpret_cast<void*>(static_cast<std::uintptr_t>(impl.window.number));
    while (true) {
        const RdKafka::ErrorCode err = impl.producer->produce(
            impl.topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(payload.data()),
            payload.size(), key.data(), key.size(), 0, opaque);
        if (err == RdKafka::ERR_NO_ERROR) {
            ++impl.sent;
            ++impl.window.sent;
            impl.producer->poll(0);  // serve delivery reports as we go
            return;
        }
        if (err == RdKafka::ERR__QUEUE_FULL) {
            // Wait for deliveries to make room, as long as one event may wait.
            if (Steady::now() >= deadline)
                throw Error(Code::connection,
                            fmt::format("cannot send event to topic {} at {}: {} events waiting "
                                        "for delivery for {} ms; {}",
                                        impl.topic, impl.brokers, impl.producer->outq_len(),
                                        impl.options.delivery_timeout.count(), impl.events.explain("queue full")),
                            Temporary::yes);
            impl.producer->poll(50);
            continue;
        }
        if (err == RdKafka::ERR_MSG_SIZE_TOO_LARGE)
            throw Error(Code::data, fmt::format("event for key '{}' is too large for topic {} ({} bytes)", key,
                                                impl.topic, payload.size()));
        std::string reason = RdKafka::err2str(err);
        if (err == RdKafka::ERR__FATAL) impl.producer->fatal_error(reason);
        throw Error(Code::connection,
                    fmt::format("cannot send event to topic {} at {}: {}", impl.topic, impl.brokers, reason),
                    temporary_if(is_temporary(err)));
    }
}

void EventProducer::flush(milliseconds timeout) {
    Impl& impl = *m_impl;
    Impl::Window& window = impl.window;
    impl.producer->flush(to_int_ms(timeout));

    bool timed_out = false;
    if (window.delivered + window.failed < window.sent) {
        // Give every event of the window a final outcome: what is still
        // queued or in flight now is reported as not delivered.
        timed_out = true;
        impl.producer->purge(RdKafka::Producer::PURGE_QUEUE | RdKafka::Producer::PURGE_INFLIGHT);
        impl.producer->flush(1000);  // serves the purge reports
    }

    const std::uint64_t not_delivered = window.sent - window.delivered;
    const std::uint64_t sent = window.sent;
    Impl::Window finished = std::move(window);
    window = Impl::Window{};
    window.number = finished.number + 1;
    if (not_delivered == 0) {
        logger().debug("flushed {} events to topic {}", sent, impl.topic);
        return;
    }

    std::string reason = finished.first_reason;
    RdKafka::ErrorCode err = finished.first_error;
    if (err == RdKafka::ERR_NO_ERROR) {
        reason = fmt::format("still undelivered after the flush timeout of {} ms", timeout.count());
        err = RdKafka::ERR__TIMED_OUT;
    } else if (timed_out) {
        reason += fmt::format("; others still undelivered after the flush timeout of {} ms", timeout.count());
    }
    if (is_temporary(err)) reason = impl.events.explain(reason);
    throw Error(Code::connection,
                fmt::format("{} of {} events not delivered to topic {} at {}: {}", not_delivered, sent, impl.topic,
                            impl.brokers, reason),
                temporary_if(is_temporary(err)));
}

std::uint64_t EventProducer::sent() const {
    return m_impl->sent;
}
std::uint64_t EventProducer::delivered() const {
    return m_impl->delivered;
}
std::uint64_t EventProducer::failed() const {
    return m_impl->failed;
}
const std::string& EventProducer::topic() const {
    return m_impl->topic;
}
const std::string& EventProducer::brokers() const {
    return m_impl->brokers;
}

// ---------------------------------------------------------------------------
// EventConsumer

void ConsumerOptions::validate() const {
    if (client_id.empty()) throw Error(Code::config, "Kafka consumer: empty client id");
    if (session_timeout < milliseconds(1) || heartbeat_interval < milliseconds(1))
        throw Error(Code::config, "Kafka consumer: session timeout and heartbeat interval must be positive");
    if (heartbeat_interval >= session_timeout)
        throw Error(Code::config, fmt::format("Kafka consumer: heartbeat interval ({} ms) must be less "
                                              "than the session timeout ({} ms)",
                                              heartbeat_interval.count(), session_timeout.count()));
    if (max_poll_interval < session_timeout)
        throw Error(Code::config, fmt::format("Kafka consumer: max poll interval ({} ms) must be at "
                                              "least the session timeout ({} ms)",
                                              max_poll_interval.count(), session_timeout.count()));
}

struct EventConsumer::Impl : RdKafka::RebalanceCb {
    struct PartitionState {
        bool at_end = false;  // reached its end since its last message
    };

    Impl(std::string brokers_, std::string group_, std::string topic_, ConsumerOptions options_)
        : brokers(std::move(brokers_)),
          group(std::move(group_)),
          topic(std::move(topic_)),
          options(std::move(options_)),
          events(brokers) {}

    ~Impl() override { close(); }

    void rebalance_cb(RdKafka::KafkaConsumer* handle, RdKafka::ErrorCode err,
                      std::vector<RdKafka::TopicPartition*>& changed) override {
        const bool cooperative = handle->rebalance_protocol() == "COOPERATIVE";
        if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
            if (cooperative) {
                std::unique_ptr<RdKafka::Error> e(handle->incremental_assign(changed));
                if (e) logger().warn("group {}: assigning partitions: {}", group, e->str());
            } else if (auto rc = handle->assign(changed); rc != RdKafka::ERR_NO_ERROR) {
                logger().warn("group {}: assigning partitions: {}", group, RdKafka::err2str(rc));
            }
            for (const auto* tp : changed)
                if (tp->topic() == topic) partitions[tp->partition()] = PartitionState{};
            joined = true;
            if (!partitions.empty()) topic_missing = false;
            logger().info("group {}: assigned partitions {} of topic {}", group, fmt::join(assigned(), ","), topic);
            return;
        }
        const bool lost = handle->assignment_lost();
        if (cooperative) {
            std::unique_ptr<RdKafka::Error> e(handle->incremental_unassign(changed));
            if (e) logger().warn("group {}: unassigning partitions: {}", group, e->str());
        } else {
            handle->unassign();
        }
        joined = false;  // until the assignment that ends this rebalance
        if (err == RdKafka::ERR__REVOKE_PARTITIONS) {
            for (const auto* tp : changed) {
                if (tp->topic() != topic) continue;
                partitions.erase(tp->partition());
                revoked.insert(tp->partition());
            }
            logger().info("group {}: {} partitions {} of topic {}", group, lost ? "lost" : "revoked",
                          join_partitions(changed), topic);
        } else {
            for (const auto& [id, state] : partitions) revoked.insert(id);
            partitions.clear();
            logger().warn("group {}: rebalance failed: {}", group, RdKafka::err2str(err));
        }
    }

    std::vector<std::int32_t> assigned() const {
        std::vector<std::int32_t> ids;
        for (const auto& [id, state] : partitions) ids.push_back(id);
        return ids;
    }

    bool caught_up() const {
        // librdkafka does not even join the group while no subscribed topic
        // exists, so a missing topic is recognised by its error instead.
        if (topic_missing && partitions.empty()) return true;
        return joined &&
               std::all_of(partitions.begin(), partitions.end(), [](const auto& p) { return p.second.at_end; });
    }

    Error unreachable() const {
        return Error(Code::connection,
                     fmt::format("cannot reach Kafka at {} (consumer group {}, topic {}): {}", brokers, group, topic,
                                 events.explain(RdKafka::err2str(RdKafka::ERR__ALL_BROKERS_DOWN))),
                     Temporary::yes);
    }

    void close() {
        if (!consumer || closed) return;
        closed = true;
        if (auto err = consumer->close(); err != RdKafka::ERR_NO_ERROR)
            logger().warn("group {}: leaving the group: {}", group, RdKafka::err2str(err));
        else
            logger().debug("group {}: left", group);
        partitions.clear();
        joined = false;
    }

    std::string brokers;
    std::string group;
    std::string topic;
    ConsumerOptions options;
    std::map<std::int32_t, PartitionState> partitions;  // the current assignment
    bool joined = false;                                // an assignment arrived and no rebalance since
    bool topic_missing = false;                         // the brokers said the topic does not exist
    // Revoked since poll_batch() last looked: even if assigned again, such a
    // partition is read again from its committed offset.
    std::set<std::int32_t> revoked;
    bool closed = false;
    EventBridge events;
    std::unique_ptr<RdKafka::KafkaConsumer> consumer;  // last: destroyed before its callbacks
};

EventConsumer::EventConsumer(std::string brokers, std::string group_id, std::string topic, ConsumerOptions options) {
    validate_topic_name(topic);
    if (group_id.empty()) throw Error(Code::config, "Kafka consumer: empty consumer group id");
    options.validate();
    m_impl = std::make_unique<Impl>(std::move(brokers), std::move(group_id), std::move(topic), std::move(options));
    Impl& impl = *m_impl;
    auto conf = base_conf(impl.brokers, impl.options.client_id, &impl.events);
    set(*conf, "group.id", impl.group);
    // Offsets move only when commit() says the events were processed.
    set(*conf, "enable.auto.commit", "false");
    set(*conf, "enable.auto.offset.store", "false");
    set(*conf, "auto.offset.reset", "earliest");
    set(*conf, "enable.partition.eof", "true");
    set(*conf, "allow.auto.create.topics", "false");
    set(*conf, "session.timeout.ms", std::to_string(impl.options.session_timeout.count()));
    set(*conf, "heartbeat.interval.ms", std::to_string(impl.options.heartbeat_interval.count()));
    set(*conf, "max.poll.interval.ms", std::to_string(impl.options.max_poll_interval.count()));
    set_callback(*conf, "rebalance_cb", static_cast<RdKafka::RebalanceCb*>(&impl));
    std::string errstr;
    impl.consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), errstr));
    if (!impl.consumer) throw Error(Code::config, fmt::format("Kafka consumer for {}: {}", impl.brokers, errstr));
    if (auto err = impl.consumer->subscribe({impl.topic}); err != RdKafka::ERR_NO_ERROR)
        throw Error(Code::config, fmt::format("Kafka consumer group {}: cannot subscribe to topic {}: {}", impl.group,
                                              impl.topic, RdKafka::err2str(err)));
    logger().debug("consumer in group {} for topic {} at {}", impl.group, impl.topic, impl.brokers);
}

std::int64_t consumer_group_lag(const std::string& brokers, const std::string& group_id, const std::string& topic,
                                milliseconds timeout) {
    validate_topic_name(topic);
    if (group_id.empty()) throw Error(Code::config, "Kafka consumer: empty consumer group id");
    check_brokers(brokers, timeout);
    EventBridge events(brokers);  // declared first: outlives the handle
    auto conf = base_conf(brokers, "webookctl-lag", &events);
    set(*conf, "group.id", group_id);
    set(*conf, "enable.auto.commit", "false");
    std::string errstr;
    std::unique_ptr<RdKafka::KafkaConsumer> consumer(RdKafka::KafkaConsumer::create(conf.get(), errstr));
    if (!consumer) throw Error(Code::config, fmt::format("Kafka consumer for {}: {}", brokers, errstr));
    const auto deadline = Steady::now() + timeout;
    auto fail = [&](std::string_view what, RdKafka::ErrorCode err) {
        consumer->close();
        return Error(Code::connection,
                     fmt::format("reading the lag of consumer group {} on {} at {}: {}: {}", group_id, topic, brokers,
                                 what, RdKafka::err2str(err)),
                     Temporary::yes);
    };
    // The topic's partitions.
    std::unique_ptr<RdKafka::Topic> handle(RdKafka::Topic::create(consumer.get(), topic, nullptr, errstr));
    RdKafka::Metadata* raw = nullptr;
    RdKafka::ErrorCode err = consumer->metadata(false, handle.get(), &raw, std::max(remaining_ms(deadline), 1));
    std::unique_ptr<RdKafka::Metadata> metadata(raw);
    if (err != RdKafka::ERR_NO_ERROR || !metadata) throw fail("metadata", err);
    std::vector<RdKafka::TopicPartition*> parts;
    for (const auto* t : *metadata->topics())
        if (t->topic() == topic && t->err() == RdKafka::ERR_NO_ERROR)
            for (const auto* p : *t->partitions()) parts.push_back(RdKafka::TopicPartition::create(topic, p->id()));
    struct Free {
        std::vector<RdKafka::TopicPartition*>& v;
        ~Free() { RdKafka::TopicPartition::destroy(v); }
    } free_parts{parts};
    if (parts.empty()) {
        consumer->close();
        return 0;  // no topic yet: nothing unprocessed
    }
    if ((err = consumer->committed(parts, std::max(remaining_ms(deadline), 1))) != RdKafka::ERR_NO_ERROR)
        throw fail("committed offsets", err);
    std::int64_t lag = 0;
    for (auto* tp : parts) {
        std::int64_t low = 0, high = 0;
        err =
            consumer->query_watermark_offsets(topic, tp->partition(), &low, &high, std::max(remaining_ms(deadline), 1));
        if (err != RdKafka::ERR_NO_ERROR) throw fail("watermarks", err);
        const std::int64_t from = tp->offset() >= 0 ? std::max(tp->offset(), low) : low;
        lag += std::max<std::int64_t>(high - from, 0);
    }
    consumer->close();
    return lag;
}

EventConsumer::~EventConsumer() = default;
EventConsumer::EventConsumer(EventConsumer&&) noexcept = default;
EventConsumer& EventConsumer::operator=(EventConsumer&&) noexcept = default;

std::vector<EventConsumer::Message> EventConsumer::poll_batch(std::size_t max_messages, milliseconds max_wait) {
    Impl& impl = *m_impl;
    if (impl.closed) throw Error(Code::internal, "EventConsumer::poll_batch() after close()");
    impl.revoked.clear();  // nothing read from them is pending
    std::vector<Message> batch;
    const auto deadline = Steady::now() + max_wait;
    while (batch.size() < max_messages) {
        std::unique_ptr<RdKafka::Message> msg(impl.consumer->consume(remaining_ms(deadline)));
        if (!impl.revoked.empty()) {
            // Rebalanced inside consume(): the events already read from a
            // revoked partition are read again by its next owner, from its
            // committed offset -- possibly this member, hence no duplicates.
            std::erase_if(batch, [&](const Message& m) { return impl.revoked.contains(m.partition); });
            impl.revoked.clear();
        }
        if (impl.events.all_brokers_down()) {
            impl.events.clear_brokers_down();
            throw impl.unreachable();
        }
        switch (msg->err()) {
        case RdKafka::ERR_NO_ERROR: {
            if (auto it = impl.partitions.find(msg->partition()); it != impl.partitions.end())
                it->second.at_end = false;
            Message& m = batch.emplace_back();
            m.topic = msg->topic_name();
            m.partition = msg->partition();
            m.offset = msg->offset();
            if (msg->key_pointer() != nullptr)
                m.key.assign(static_cast<const char*>(msg->key_pointer()), msg->key_len());
            if (msg->payload() != nullptr) m.payload.assign(static_cast<const char*>(msg->payload()), msg->len());
            break;
        }
        case RdKafka::ERR__PARTITION_EOF:
            if (auto it = impl.partitions.find(msg->partition()); it != impl.partitions.end()) it->second.at_end = true;
            logger().trace("group {}: partition {} of topic {} at end (offset {})", impl.group, msg->partition(),
                           msg->topic_name(), msg->offset());
            break;
        case RdKafka::ERR__TIMED_OUT: break;
        case RdKafka::ERR_UNKNOWN_TOPIC_OR_PART:
        case RdKafka::ERR__UNKNOWN_TOPIC:
            // Nothing was ever sent to it (and the brokers do not create
            // topics for consumers): nothing to read.
            if (!impl.topic_missing) logger().debug("group {}: topic {} does not exist (yet)", impl.group, impl.topic);
            impl.topic_missing = true;
            break;
        case RdKafka::ERR__ALL_BROKERS_DOWN: impl.events.clear_brokers_down(); throw impl.unreachable();
        case RdKafka::ERR__FATAL: {
            std::string reason;
            impl.consumer->fatal_error(reason);
            throw Error(Code::connection,
                        fmt::format("Kafka consumer group {} at {}: {}", impl.group, impl.brokers, reason));
        }
        default:
            if (is_temporary(msg->err()))
                logger().debug("group {}: {}", impl.group, msg->errstr());
            else
                logger().warn("group {}, topic {}: {}", impl.group, impl.topic, msg->errstr());
            break;
        }
        if (impl.caught_up() || Steady::now() >= deadline) break;
    }
    return batch;
}

bool EventConsumer::caught_up() const {
    return m_impl->caught_up();
}

void EventConsumer::commit(const std::vector<Message>& processed) {
    Impl& impl = *m_impl;
    if (impl.closed) throw Error(Code::internal, "EventConsumer::commit() after close()");
    std::map<std::int32_t, std::int64_t> highest;
    for (const Message& m : processed) {
        if (m.topic != impl.topic) continue;
        auto [it, inserted] = highest.try_emplace(m.partition, m.offset);
        if (!inserted) it->second = std::max(it->second, m.offset);
    }
    std::vector<std::unique_ptr<RdKafka::TopicPartition>> owned;
    std::vector<RdKafka::TopicPartition*> offsets;
    for (const auto& [partition, offset] : highest) {
        if (!impl.partitions.contains(partition)) {
            logger().info(
                "group {}: not committing partition {} of topic {}: no longer assigned; "
                "its new owner will re-read it",
                impl.group, partition, impl.topic);
            continue;
        }
        owned.emplace_back(RdKafka::TopicPartition::create(impl.topic, partition, offset + 1));
        offsets.push_back(owned.back().get());
    }
    if (offsets.empty()) return;

    RdKafka::ErrorCode err = impl.consumer->commitSync(offsets);
    std::string failed;
    for (const auto* tp : offsets) {
        if (tp->err() == RdKafka::ERR_NO_ERROR) continue;
        if (err == RdKafka::ERR_NO_ERROR) err = tp->err();
        failed +=
            fmt::format("{}partition {}: {}", failed.empty() ? "" : ", ", tp->partition(), RdKafka::err2str(tp->err()));
    }
    if (err != RdKafka::ERR_NO_ERROR) {
        throw Error(
            Code::connection,
            fmt::format("committing offsets of topic {} for consumer group {} at {}: {}", impl.topic, impl.group,
                        impl.brokers, failed.empty() ? impl.events.explain(RdKafka::err2str(err)) : failed),
            temporary_if(is_temporary(err)));
    }
    logger().debug("group {}: committed {}", impl.group, join_partitions(offsets));
}

std::vector<std::int32_t> EventConsumer::assigned_partitions() const {
    return m_impl->assigned();
}

void EventConsumer::close() {
    if (m_impl) m_impl->close();
}

const std::string& EventConsumer::topic() const {
    return m_impl->topic;
}
const std::string& EventConsumer::group_id() const {
    return m_impl->group;
}

}  // namespace webook
