// Kafka: what the producer and the consumer share -- URLs and topic names,
// the broker check, consumer-group lag, and the helpers of kafka_internal.h.
// EventProducer is in kafka_producer.cpp, EventConsumer in kafka_consumer.cpp.
#include "core/messaging/kafka.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>

#include <fmt/format.h>
#include <librdkafka/rdkafkacpp.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/base/secrets.h"
#include "core/messaging/kafka_internal.h"

namespace webook {
namespace {

using kafka_detail::base_conf;
using kafka_detail::EventBridge;
using kafka_detail::logger;
using kafka_detail::remaining_ms;
using kafka_detail::set;
using kafka_detail::Steady;
using std::chrono::milliseconds;

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

// A URL as shown in errors: what stands between the scheme and the first '@'
// after it masked.
std::string mask(std::string_view text) {
    std::string out(text);
    auto scheme = out.find("://");
    if (scheme == std::string::npos) return out;
    auto at = out.find('@', scheme + 3);
    if (at != std::string::npos) out.replace(scheme + 3, at - scheme - 3, "***");
    return out;
}

}  // namespace

namespace kafka_detail {

const log::Logger& logger() {
    static const log::Logger* l = log::get("kafka");
    return *l;
}

int to_int_ms(milliseconds d) {
    return static_cast<int>(std::clamp<milliseconds::rep>(d.count(), 0, 1'000'000'000));
}

int remaining_ms(Steady::time_point deadline) {
    return to_int_ms(std::chrono::ceil<milliseconds>(deadline - Steady::now()));
}

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

void set(RdKafka::Conf& conf, const std::string& name, const std::string& value) {
    std::string errstr;
    if (conf.set(name, value, errstr) != RdKafka::Conf::CONF_OK)
        throw Error(Code::config, fmt::format("Kafka setting {}={}: {}", name, value, errstr));
}

// [kafka]: as given, and resolved (NAME_file read into NAME) on first use.
struct ClientProperties {
    std::mutex mutex;
    std::map<std::string, std::string> given;
    std::optional<std::map<std::string, std::string>> resolved;
};

ClientProperties& client_properties() {
    static ClientProperties p;
    return p;
}

bool is_secret_property(std::string_view name) {
    return name.find("password") != std::string_view::npos || name.find("secret") != std::string_view::npos ||
           name.find(".pem") != std::string_view::npos;
}

// The properties to apply, files read once. Throws Error(Code::config) for
// a file that cannot be read.
std::map<std::string, std::string> resolved_client_properties() {
    ClientProperties& p = client_properties();
    std::lock_guard lock(p.mutex);
    if (p.resolved) return *p.resolved;
    std::map<std::string, std::string> out;
    for (const auto& [name, value] : p.given) {
        if (!name.ends_with("_file")) {
            out[name] = value;
            continue;
        }
        std::ifstream in(value);
        std::string line;
        if (!in || !std::getline(in, line))
            throw Error(Code::config, fmt::format("[kafka] {}: cannot read '{}'", name, value));
        while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.pop_back();
        register_secret(line);
        out[name.substr(0, name.size() - 5)] = line;
    }
    p.resolved = out;
    return out;
}

std::unique_ptr<RdKafka::Conf> base_conf(const std::string& brokers, const std::string& client_id,
                                         EventBridge* events) {
    if (brokers.empty()) throw Error(Code::config, "empty Kafka broker list");
    std::unique_ptr<RdKafka::Conf> conf(RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL));
    set(*conf, "bootstrap.servers", brokers);
    set(*conf, "client.id", client_id);
    for (const auto& [name, value] : resolved_client_properties()) {
        std::string errstr;
        if (conf->set(name, value, errstr) != RdKafka::Conf::CONF_OK)
            throw Error(Code::config, fmt::format("[kafka] {}: {}", name, redact(errstr)));
    }
    set_callback(*conf, "event_cb", static_cast<RdKafka::EventCb*>(events));
    return conf;
}

}  // namespace kafka_detail

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
// Client properties

std::string kafka_property_problem(std::string_view name) {
    const std::string_view base = name.ends_with("_file") ? name.substr(0, name.size() - 5) : name;
    if (base == "security.protocol" || base == "client.id" || base.starts_with("sasl.") || base.starts_with("ssl."))
        return {};
    if (base == "bootstrap.servers" || base == "metadata.broker.list")
        return fmt::format("'{}' is not set in [kafka]: the brokers are in each kafka:// URL", name);
    return fmt::format(
        "'{}' is not a property [kafka] may set (security.protocol, client.id, sasl.*, ssl.*, or "
        "NAME_file to read one from a file)",
        name);
}

void set_kafka_client_properties(std::map<std::string, std::string> properties) {
    for (const auto& [name, value] : properties) {
        if (auto problem = kafka_property_problem(name); !problem.empty()) throw Error(Code::config, problem);
        if (!name.ends_with("_file") && kafka_detail::is_secret_property(name)) {
            register_secret(value);
            logger().warn("[kafka] {} is written in the config file; prefer {}_file", name, name);
        }
    }
    auto& p = kafka_detail::client_properties();
    std::lock_guard lock(p.mutex);
    p.given = std::move(properties);
    p.resolved.reset();
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
// consumer_group_lag

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

}  // namespace webook
