// EventConsumer: the event source, a consumer-group member over librdkafka's
// C++ KafkaConsumer.
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

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <librdkafka/rdkafkacpp.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/messaging/kafka_internal.h"

namespace webook {
namespace {

using kafka_detail::base_conf;
using kafka_detail::EventBridge;
using kafka_detail::is_temporary;
using kafka_detail::logger;
using kafka_detail::remaining_ms;
using kafka_detail::set;
using kafka_detail::set_callback;
using kafka_detail::Steady;
using kafka_detail::temporary_if;
using std::chrono::milliseconds;

std::string join_partitions(const std::vector<RdKafka::TopicPartition*>& partitions) {
    std::vector<std::int32_t> ids;
    ids.reserve(partitions.size());
    for (const auto* tp : partitions) ids.push_back(tp->partition());
    std::sort(ids.begin(), ids.end());
    return fmt::format("[{}]", fmt::join(ids, ","));
}

}  // namespace

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
        bool at_end = false;     // reached its end since its last message
        std::int64_t next = -1;  // the offset after the last event returned (or the end seen); -1: none yet
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
            if (auto it = impl.partitions.find(msg->partition()); it != impl.partitions.end()) {
                it->second.at_end = false;
                it->second.next = msg->offset() + 1;
            }
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
            if (auto it = impl.partitions.find(msg->partition()); it != impl.partitions.end()) {
                it->second.at_end = true;
                it->second.next = msg->offset();
            }
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

std::optional<std::int64_t> EventConsumer::lag() const {
    const Impl& impl = *m_impl;
    if (impl.closed) return std::nullopt;
    std::optional<std::int64_t> lag;
    for (const auto& [id, state] : impl.partitions) {
        if (state.next < 0) continue;
        std::int64_t low = -1, high = -1;
        if (!state.at_end && impl.consumer->get_watermark_offsets(impl.topic, id, &low, &high) != RdKafka::ERR_NO_ERROR)
            continue;
        lag = lag.value_or(0) + (state.at_end ? 0 : std::max<std::int64_t>(0, high - state.next));
    }
    return lag;
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
    if (err == RdKafka::ERR_REBALANCE_IN_PROGRESS || err == RdKafka::ERR_ILLEGAL_GENERATION ||
        err == RdKafka::ERR_UNKNOWN_MEMBER_ID) {
        // The group is rebalancing (a member joined or left): these partitions
        // are being handed over and the commit is refused. Like a partition no
        // longer assigned, its new owner re-reads from the last committed
        // offset -- at-least-once, which every consumer here tolerates (fixes
        // and settlements are idempotent) -- so the run goes on.
        logger().warn(
            "group {}: offsets of topic {} not committed, the group is rebalancing ({}); "
            "their new owner will re-read them",
            impl.group, impl.topic, RdKafka::err2str(err));
        return;
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
