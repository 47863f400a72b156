// The Kafka layer against the mock cluster scripts/services.sh runs
// (tests/kafka_mock), through its real TCP ports: what the event sink of
// migrations and the fixers' event source rely on.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/base/error.h"
#include "core/messaging/kafka.h"
#include "tests/support/test_env.h"

namespace webook {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;
using Message = EventConsumer::Message;

// Nothing listens on port 1.
const std::string k_unreachable = "127.0.0.1:1";

// Group timings the mock cluster needs to join in seconds (docs/library-notes.md).
ConsumerOptions fast_group() {
    ConsumerOptions options;
    options.session_timeout = 3000ms;
    options.heartbeat_interval = 750ms;
    options.max_poll_interval = 30s;
    return options;
}

EventConsumer consumer_for(const std::string& group, const std::string& topic) {
    return EventConsumer(testing::kafka_bootstrap(), group, topic, fast_group());
}

enum class Commit { no, yes };

// Everything the consumer can read until it is caught up.
std::vector<Message> consume_until_caught_up(EventConsumer& consumer, Commit commit, std::chrono::seconds limit = 30s) {
    std::vector<Message> all;
    const auto deadline = Steady::now() + limit;
    while (Steady::now() < deadline) {
        std::vector<Message> batch = consumer.poll_batch(100, 500ms);
        if (commit == Commit::yes) consumer.commit(batch);
        all.insert(all.end(), batch.begin(), batch.end());
        if (consumer.caught_up()) return all;
    }
    ADD_FAILURE() << "not caught up after " << limit.count() << " s; read " << all.size();
    return all;
}

// Sends `count` events keyed "row-<i % keys>" with payload "<key>#<i>".
void produce(const std::string& topic, int count, int keys) {
    EventProducer producer(testing::kafka_bootstrap(), topic);
    for (int i = 0; i < count; ++i) {
        std::string key = "row-" + std::to_string(i % keys);
        producer.send(key, key + "#" + std::to_string(i));
    }
    producer.flush(10s);
    ASSERT_EQ(producer.delivered(), static_cast<std::uint64_t>(count));
}

using Position = std::pair<std::int32_t, std::int64_t>;  // partition, offset

std::set<Position> positions(const std::vector<Message>& messages) {
    std::set<Position> out;
    for (const Message& m : messages) out.emplace(m.partition, m.offset);
    return out;
}

std::set<std::int32_t> partitions_of(const std::vector<Message>& messages) {
    std::set<std::int32_t> out;
    for (const Message& m : messages) out.insert(m.partition);
    return out;
}

// Throws what fn() throws, as an Error, or fails the test.
template <typename Fn>
Error error_from(Fn&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "no Error thrown";
    return Error(Code::internal, "no error");
}

TEST(KafkaMock, AnswersMetadataRequestsOverTcp) {
    EXPECT_NO_THROW(check_brokers(testing::kafka_bootstrap(), 5s));
}

TEST(KafkaMock, SpreadsKeysOverPartitionsAndKeepsEachKeyInOnePartitionInOrder) {
    const std::string topic = testing::unique_name("spread");
    EventProducer producer(testing::kafka_bootstrap(), topic);
    for (int i = 0; i < 200; ++i) {
        std::string key = "row-" + std::to_string(i % 50);
        producer.send(key, std::to_string(i));
    }
    producer.flush(10s);
    EXPECT_EQ(producer.sent(), 200u);
    EXPECT_EQ(producer.delivered(), 200u);
    EXPECT_EQ(producer.failed(), 0u);

    EventConsumer consumer = consumer_for(testing::unique_name("spread"), topic);
    std::vector<Message> all = consume_until_caught_up(consumer, Commit::yes);
    consumer.close();

    ASSERT_EQ(all.size(), 200u);
    EXPECT_EQ(consumer.assigned_partitions().size(), 0u);  // closed
    std::map<std::string, std::set<std::int32_t>> partitions_by_key;
    std::map<std::string, int> last_by_key;
    for (const Message& m : all) {
        EXPECT_EQ(m.topic, topic);
        partitions_by_key[m.key].insert(m.partition);
        const int n = std::stoi(m.payload);
        auto [it, first] = last_by_key.try_emplace(m.key, n);
        if (!first) {
            EXPECT_GT(n, it->second) << "events for " << m.key << " out of order";
            it->second = n;
        }
    }
    EXPECT_EQ(partitions_by_key.size(), 50u);
    for (const auto& [key, partitions] : partitions_by_key)
        EXPECT_EQ(partitions.size(), 1u) << key << " landed in several partitions";
    // The mock auto-creates topics with 4 partitions; 50 keys use more than one.
    EXPECT_GT(partitions_of(all).size(), 1u);
    EXPECT_LE(partitions_of(all).size(), 4u);
}

TEST(EventConsumer, ResumesFromTheCommittedOffsetsAfterARestart) {
    const std::string topic = testing::unique_name("resume");
    const std::string group = testing::unique_name("resume");
    produce(topic, 40, 40);

    // First run: reads everything, but processes (commits) only the lower
    // half of each partition, then stops.
    std::vector<Message> committed;
    std::vector<Message> uncommitted;
    {
        EventConsumer first = consumer_for(group, topic);
        std::vector<Message> all = consume_until_caught_up(first, Commit::no);
        ASSERT_EQ(all.size(), 40u);
        std::map<std::int32_t, std::int64_t> count;
        for (const Message& m : all) ++count[m.partition];
        for (const Message& m : all) (m.offset < count[m.partition] / 2 ? committed : uncommitted).push_back(m);
        first.commit(committed);
        first.close();
    }
    ASSERT_FALSE(committed.empty());
    ASSERT_FALSE(uncommitted.empty());

    // Second run, same group: exactly the events not committed.
    EventConsumer second = consumer_for(group, topic);
    std::vector<Message> again = consume_until_caught_up(second, Commit::yes);
    second.close();
    EXPECT_EQ(positions(again), positions(uncommitted));
    EXPECT_EQ(again.size(), uncommitted.size()) << "an event was delivered twice";
    for (const Message& m : again) EXPECT_EQ(positions(committed).count({m.partition, m.offset}), 0u);
}

// The lag a fixer's metrics report: the events after this member's position
// on the partitions it has read from (the high watermark the fetches saw, no
// broker round trip), 0 once it is caught up.
TEST(EventConsumer, ReportsHowManyEventsItIsBehindTheEndOfItsPartitions) {
    const std::string topic = testing::unique_name("lag");
    const std::string group = testing::unique_name("lag");
    produce(topic, 40, 1);  // one key: one partition
    EventConsumer consumer = consumer_for(group, topic);
    EXPECT_FALSE(consumer.lag().has_value()) << "nothing known before the first poll";
    std::vector<Message> got;
    const auto deadline = Steady::now() + 30s;
    while (got.size() < 10 && Steady::now() < deadline) {
        std::vector<Message> batch = consumer.poll_batch(10 - got.size(), 500ms);
        got.insert(got.end(), batch.begin(), batch.end());
    }
    ASSERT_EQ(got.size(), 10u);
    ASSERT_TRUE(consumer.lag().has_value());
    EXPECT_EQ(*consumer.lag(), 30);
    consume_until_caught_up(consumer, Commit::yes);
    EXPECT_EQ(consumer.lag(), 0);
    consumer.close();
    EXPECT_FALSE(consumer.lag().has_value()) << "a closed member reads nothing";
}

TEST(EventConsumer, TwoMembersOfOneGroupShareThePartitions) {
    const std::string topic = testing::unique_name("share");
    const std::string group = testing::unique_name("share");
    produce(topic, 80, 80);

    // Created together, they join the same generation of the group.
    EventConsumer a = consumer_for(group, topic);
    EventConsumer b = consumer_for(group, topic);
    std::vector<Message> read_a;
    std::vector<Message> read_b;
    const auto deadline = Steady::now() + 30s;
    while (Steady::now() < deadline) {
        for (auto [consumer, read] : {std::pair{&a, &read_a}, std::pair{&b, &read_b}}) {
            std::vector<Message> batch = consumer->poll_batch(100, 200ms);
            consumer->commit(batch);
            read->insert(read->end(), batch.begin(), batch.end());
        }
        if (a.caught_up() && b.caught_up() && read_a.size() + read_b.size() >= 80) break;
    }
    const std::vector<std::int32_t> assigned_a = a.assigned_partitions();
    const std::vector<std::int32_t> assigned_b = b.assigned_partitions();
    a.close();
    b.close();

    EXPECT_FALSE(read_a.empty());
    EXPECT_FALSE(read_b.empty());
    EXPECT_FALSE(assigned_a.empty());
    EXPECT_FALSE(assigned_b.empty());
    EXPECT_EQ(assigned_a.size() + assigned_b.size(), 4u);

    std::vector<Message> both = read_a;
    both.insert(both.end(), read_b.begin(), read_b.end());
    // Nothing lost. Created together they usually join one generation and
    // nothing is read twice; under load the second may join a moment later,
    // a rebalance refuses the first's commit (not an error: logged) and the
    // partitions' new owner re-reads what was not committed -- at-least-once.
    EXPECT_EQ(positions(both).size(), 80u) << "events lost";
    EXPECT_GE(both.size(), 80u);
    if (both.size() == 80u) {  // one generation throughout: each partition read by one member
        for (std::int32_t p : partitions_of(read_a)) EXPECT_EQ(partitions_of(read_b).count(p), 0u) << p;
    }
    std::set<std::string> keys;
    for (const Message& m : both) keys.insert(m.key);
    EXPECT_EQ(keys.size(), 80u);
}

// A member joining a running group: the partitions move, nothing committed
// is read again, and both members become caught up again (the EOF of a
// partition is reported anew to its new owner).
TEST(EventConsumer, RebalancesWhenAMemberJoinsLate) {
    const std::string topic = testing::unique_name("late");
    const std::string group = testing::unique_name("late");
    produce(topic, 40, 40);

    EventConsumer a = consumer_for(group, topic);
    ASSERT_EQ(consume_until_caught_up(a, Commit::yes).size(), 40u);
    ASSERT_EQ(a.assigned_partitions().size(), 4u);

    EventConsumer b = consumer_for(group, topic);
    std::vector<Message> read;
    auto poll_both = [&] {
        for (EventConsumer* consumer : {&a, &b}) {
            std::vector<Message> batch = consumer->poll_batch(100, 200ms);
            consumer->commit(batch);
            read.insert(read.end(), batch.begin(), batch.end());
        }
    };
    auto deadline = Steady::now() + 30s;
    while (Steady::now() < deadline && !(a.caught_up() && b.caught_up() && !b.assigned_partitions().empty()))
        poll_both();
    EXPECT_TRUE(read.empty()) << "committed events delivered again";
    ASSERT_FALSE(b.assigned_partitions().empty());
    ASSERT_FALSE(a.assigned_partitions().empty());
    EXPECT_EQ(a.assigned_partitions().size() + b.assigned_partitions().size(), 4u);

    produce(topic, 40, 40);
    deadline = Steady::now() + 30s;
    do poll_both();
    while (Steady::now() < deadline && !(a.caught_up() && b.caught_up() && read.size() >= 40));
    a.close();
    b.close();
    EXPECT_EQ(read.size(), 40u);
    EXPECT_EQ(positions(read).size(), 40u);
}

// Nobody ever wrote to the topic. A real broker (auto.create.topics.enable
// off) reports it unknown; the mock creates it on the consumer's metadata
// request (its Metadata is older than v4, which carries
// allow.auto.create.topics=false), so here the consumer gets 4 empty
// partitions. Either way an "until idle" loop must end promptly.
TEST(EventConsumer, IsCaughtUpAtOnceOnATopicNobodyWroteTo) {
    const std::string topic = testing::unique_name("absent");
    EventConsumer consumer = consumer_for(testing::unique_name("absent"), topic);
    const auto start = Steady::now();
    std::vector<Message> all = consume_until_caught_up(consumer, Commit::yes, 20s);
    EXPECT_LT(Steady::now() - start, 10s);
    EXPECT_TRUE(all.empty());
    consumer.close();
}

TEST(EventConsumer, ReportsUnreachableBrokersAsAConnectionError) {
    EventConsumer consumer(k_unreachable, testing::unique_name("nobody"), "events", fast_group());
    const auto start = Steady::now();
    Error e = error_from([&] {
        while (Steady::now() - start < 20s) consumer.poll_batch(10, 500ms);
    });
    EXPECT_EQ(e.code(), Code::connection) << e.what();
    EXPECT_TRUE(e.is_temporary());
    EXPECT_NE(std::string(e.what()).find("cannot reach Kafka at 127.0.0.1:1"), std::string::npos) << e.what();
}

TEST(EventProducer, FlushReportsEventsNotDeliveredToUnreachableBrokers) {
    ProducerOptions options;
    options.delivery_timeout = 500ms;
    EventProducer producer(k_unreachable, "events", options);
    producer.send("row-1", "a");
    producer.send("row-2", "b");
    producer.send("row-3", "c");

    Error e = error_from([&] { producer.flush(10s); });
    EXPECT_EQ(e.code(), Code::connection);
    EXPECT_NE(std::string(e.what()).find("3 of 3 events not delivered to topic events at 127.0.0.1:1"),
              std::string::npos)
        << e.what();
    EXPECT_EQ(producer.sent(), 3u);
    EXPECT_EQ(producer.delivered(), 0u);
    EXPECT_EQ(producer.failed(), 3u);

    // Each failure is reported once: nothing new, nothing to report.
    EXPECT_NO_THROW(producer.flush(1s));
}

TEST(EventProducer, FlushGivesUpOnEventsStillUndeliveredAtItsTimeout) {
    EventProducer producer(k_unreachable, "events");  // default delivery timeout: 30 s
    producer.send("row-1", "a");
    const auto start = Steady::now();
    Error e = error_from([&] { producer.flush(300ms); });
    EXPECT_LT(Steady::now() - start, 3s);
    EXPECT_EQ(e.code(), Code::connection);
    EXPECT_NE(std::string(e.what()).find("1 of 1 events not delivered"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("flush timeout of 300 ms"), std::string::npos) << e.what();
    EXPECT_EQ(producer.failed(), 1u);
}

TEST(EventProducer, WaitsForRoomWhenItsQueueIsFull) {
    ProducerOptions options;
    options.max_queued_events = 5;
    EventProducer producer(testing::kafka_bootstrap(), testing::unique_name("full"), options);
    for (int i = 0; i < 300; ++i) producer.send("row-" + std::to_string(i), "x");
    producer.flush(10s);
    EXPECT_EQ(producer.sent(), 300u);
    EXPECT_EQ(producer.delivered(), 300u);
}

TEST(KafkaCheckBrokers, FailsFastWhenNoBrokerAnswers) {
    const auto start = Steady::now();
    Error e = error_from([&] { check_brokers(k_unreachable, 10s); });
    EXPECT_LT(Steady::now() - start, 5s) << "waited for the whole timeout";
    EXPECT_EQ(e.code(), Code::connection);
    EXPECT_NE(std::string(e.what()).find("cannot reach Kafka at 127.0.0.1:1"), std::string::npos) << e.what();
}

}  // namespace
}  // namespace webook
