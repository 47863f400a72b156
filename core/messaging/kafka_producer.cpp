// EventProducer: the event sink, over librdkafka's C++ Producer.
//
// Delivery accounting (EventProducer): every event gets a delivery report in
// the thread that calls send()/flush() (librdkafka serves them from poll()).
// Events are grouped in "windows" -- everything sent since the previous
// flush(); each event carries its window number as its opaque, so a report
// that arrives late (after its window was reported) cannot be counted twice.
// flush() ends the window: it waits, purges what is still undelivered at the
// timeout so every event of the window has a final outcome, and throws if any
// failed.
#include "core/messaging/kafka.h"

#include <cstdint>
#include <utility>

#include <fmt/format.h>
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
using kafka_detail::set;
using kafka_detail::set_callback;
using kafka_detail::Steady;
using kafka_detail::temporary_if;
using kafka_detail::to_int_ms;
using std::chrono::milliseconds;

}  // namespace

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

}  // namespace webook
