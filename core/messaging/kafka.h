// Kafka: where inconsistency events go, and where the fixers read them from.
//
//   kafka://host:port[,host:port...]/topic      (port defaults to 9092)
//
// EventProducer is the event sink of migrations and validations: one event per
// inconsistent row, keyed by the row key so that all events about one row land
// in one partition, in order. It is idempotent (no duplicates from its own
// retries) and waits for all in-sync replicas (acks=all). Sending is
// asynchronous; flush() is where the outcome becomes known, and a delivery
// that failed is always reported there as an Error -- never dropped silently.
//
// EventConsumer is the event source of the fixers: a member of a consumer
// group that shares the topic's partitions with the other members. Offsets
// are committed only explicitly, only for what the caller processed, so a
// fixer that dies mid-batch gets the unprocessed events again on restart
// (at-least-once: fixers must be idempotent). The fixer's loop:
//
//     EventConsumer consumer(brokers, group, topic);
//     for (;;) {
//         auto batch = consumer.poll_batch(500, 1s);
//         fix(batch);               // throws -> no commit -> redelivered later
//         consumer.commit(batch);
//         if (consumer.caught_up()) break;   // "until idle"; omit to run forever
//     }
//     consumer.close();
//
// Errors are webook::Error: Code::config for a malformed URL, topic or option,
// Code::connection for unreachable brokers and failed deliveries/commits (with
// the broker list in the message). librdkafka's own log lines go to the
// "kafka" logger: debug for routine noise, warn for real problems.
//
// Thread safety: an EventProducer or EventConsumer is used by one thread at a
// time (delivery reports and rebalances are handled inside its calls).
// Both are move-only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace webook {

struct KafkaUrl {
    std::string brokers;  // "host:port,host:port", ports made explicit
    std::string topic;

    // Parses kafka://host:port[,host:port...]/topic. Throws Error(Code::config)
    // naming what is wrong: no or another scheme, no broker, bad host or port,
    // no topic, a topic name Kafka would refuse (allowed: [A-Za-z0-9._-], at
    // most 249 characters, not "." or ".."), credentials or query parameters.
    static KafkaUrl parse(std::string_view text);

    // "kafka://brokers/topic", for logs and messages.
    std::string str() const;
};

// Throws Error(Code::config) unless `topic` is a name Kafka accepts.
void validate_topic_name(std::string_view topic);

// Asks the brokers for metadata, so a command fails before doing any work
// when Kafka is down. Throws Error(Code::connection, temporary) "cannot reach
// Kafka at BROKERS: reason" if no broker answers within `timeout`, and
// Error(Code::config) if `brokers` is not a broker list.
void check_brokers(const std::string& brokers, std::chrono::milliseconds timeout = std::chrono::seconds(10));

struct ProducerOptions {
    std::string client_id = "webookctl";  // default: webookctl
    // How long one event may take to be delivered, retries included; after
    // that it counts as failed. default: 30 s
    std::chrono::milliseconds delivery_timeout = std::chrono::seconds(30);
    // How long events wait to be batched together. default: 5 ms
    std::chrono::milliseconds linger = std::chrono::milliseconds(5);
    // Events buffered in memory before send() has to wait. default: 100000
    int max_queued_events = 100000;

    // Throws Error(Code::config) on a value librdkafka would refuse.
    void validate() const;
};

class EventProducer {
public:
    // Does not connect yet (librdkafka connects in the background); use
    // check_brokers() to fail fast. Throws Error(Code::config) on a bad topic,
    // broker list or option.
    EventProducer(std::string brokers, std::string topic, ProducerOptions options = {});
    ~EventProducer();  // logs an error for events never flushed; does not wait
    EventProducer(EventProducer&&) noexcept;
    EventProducer& operator=(EventProducer&&) noexcept;

    // Queues one event. Events with the same key go to the same partition.
    // When the local queue is full, waits for deliveries to make room; throws
    // Error(Code::connection, temporary) if it stays full for
    // options.delivery_timeout, Error(Code::data) if the event is too large.
    void send(std::string_view key, std::string_view payload);

    // Waits until every event sent so far is delivered or failed. Events
    // still undelivered at `timeout` are purged (and count as failed). Throws
    // Error(Code::connection) "N of M events not delivered to topic T at
    // BROKERS: reason" if any event sent since the previous flush() failed;
    // each failure is reported by exactly one flush().
    void flush(std::chrono::milliseconds timeout = std::chrono::seconds(60));

    // Cumulative counts since construction.
    std::uint64_t sent() const;       // accepted by send()
    std::uint64_t delivered() const;  // acknowledged by the brokers
    std::uint64_t failed() const;     // failed, timed out or purged

    const std::string& topic() const;
    const std::string& brokers() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// The heartbeat interval for a session timeout: a quarter of it, so three
// heartbeats can be lost before the member is dropped (librdkafka advises at
// most a third).
constexpr std::chrono::milliseconds heartbeat_for(std::chrono::milliseconds session_timeout) {
    return session_timeout / 4;
}

struct ConsumerOptions {
    std::string client_id = "webookctl";  // default: webookctl
    // A member silent for this long is dropped and its partitions reassigned.
    // default: 10 s (brokers usually refuse less than 6 s; tests use 3 s)
    std::chrono::milliseconds session_timeout = std::chrono::seconds(10);
    // default: 3 s; must be less than session_timeout
    std::chrono::milliseconds heartbeat_interval = std::chrono::seconds(3);
    // Longest time between two poll_batch() calls before the member is
    // considered stuck and leaves the group. default: 5 min; at least
    // session_timeout
    std::chrono::milliseconds max_poll_interval = std::chrono::minutes(5);

    // Throws Error(Code::config) on inconsistent values.
    void validate() const;
};

// Events of `topic` that consumer group `group_id` has not committed yet,
// summed over the topic's partitions (a partition the group never committed
// counts from its low watermark). Joins no group: reads the committed offsets
// and the watermarks. Throws Error(Code::connection) when the brokers do not
// answer within `timeout`, Error(Code::config) on a bad topic or group.
std::int64_t consumer_group_lag(const std::string& brokers, const std::string& group_id, const std::string& topic,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10));

class EventConsumer {
public:
    struct Message {
        std::string topic;
        std::int32_t partition = 0;
        std::int64_t offset = 0;
        std::string key;  // empty for a message without key
        std::string payload;
    };

    // Joins consumer group `group_id` on `topic` (in the background; the
    // first poll_batch() waits for the assignment). Starts from the group's
    // committed offsets, or from the beginning of partitions it never
    // committed. Does not ask for the topic to be created (the mock cluster
    // creates it anyway). Throws Error(Code::config) on a bad topic, group,
    // broker list or option.
    EventConsumer(std::string brokers, std::string group_id, std::string topic, ConsumerOptions options = {});
    ~EventConsumer();  // close()s if needed
    EventConsumer(EventConsumer&&) noexcept;
    EventConsumer& operator=(EventConsumer&&) noexcept;

    // Up to `max_messages` events, in offset order within each partition.
    // Returns when the batch is full, when `max_wait` has passed, or as soon
    // as the member becomes caught_up() (so the tail of a topic does not cost
    // max_wait). A member already caught up at the call waits up to
    // `max_wait` for new events, so polling an idle topic does not spin.
    // Events of partitions taken away by a rebalance during the call are
    // dropped from the batch (their new owner gets them). Throws
    // Error(Code::connection, temporary) when no broker can be reached.
    std::vector<Message> poll_batch(std::size_t max_messages, std::chrono::milliseconds max_wait);

    // True when this member has nothing more to read right now: it has joined
    // the group and every partition assigned to it has reached its end since
    // the last event returned from it. Also true after a join that gave it no
    // partitions (more members than partitions), and when the brokers report
    // that the topic does not exist, so "until idle" loops end. False before
    // the first join and during a rebalance.
    bool caught_up() const;

    // Commits, synchronously, offset+1 of the highest offset given for each
    // partition: the caller has processed everything up to there. Call it
    // before the next poll_batch(): rebalances happen only inside
    // poll_batch(), so the batch's partitions are still this member's.
    // Partitions no longer assigned to it are skipped (their new owner
    // re-reads them). Throws Error(Code::connection) if the brokers refuse or
    // do not answer (temporary when a retry may succeed).
    void commit(const std::vector<Message>& processed);

    // Events after this member's position, summed over its assigned
    // partitions: each one's high watermark as last seen by the fetches
    // (no broker round trip) minus the offset after the last event returned;
    // 0 for a partition at its end. nullopt while no partition's position is
    // known (before the first poll returned anything, or not joined).
    std::optional<std::int64_t> lag() const;

    // Partitions currently assigned to this member, ascending.
    std::vector<std::int32_t> assigned_partitions() const;

    // Leaves the group so the other members take over at once. Commits
    // nothing. Never throws (problems are logged); idempotent. The consumer is
    // unusable afterwards.
    void close();

    const std::string& topic() const;
    const std::string& group_id() const;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

// ---------------------------------------------------------------------------
// Client properties: [kafka] in the config file.
//
// librdkafka properties every Kafka client of this process is created with,
// after webookctl's own (so a client.id given here replaces the role's):
// security.protocol, client.id, sasl.* and ssl.*. A property named NAME_file
// (sasl.password_file, ssl.key.password_file, ...) is NAME, read from the
// file's first line when the first client is created. Values are never
// logged; those of secret properties (any name with "password", "secret" or
// ".pem" in it, and everything read from a file) are redacted everywhere.

// Why `name` is not a property [kafka] may set; empty when it is.
std::string kafka_property_problem(std::string_view name);

// Replaces the process's properties (set once, at start). Throws
// Error(Code::config) for a name kafka_property_problem() refuses. A secret
// written inline is accepted, registered as a secret and warned about.
void set_kafka_client_properties(std::map<std::string, std::string> properties);

}  // namespace webook
