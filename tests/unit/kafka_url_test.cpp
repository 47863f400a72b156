#include <gtest/gtest.h>

#include <string>

#include "core/base/error.h"
#include "core/messaging/kafka.h"

namespace webook {
namespace {

// The message of the config Error that parsing `text` throws, or a failure.
std::string parse_error(const std::string& text) {
    try {
        KafkaUrl::parse(text);
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), Code::config) << text;
        return e.what();
    }
    ADD_FAILURE() << "no error for " << text;
    return {};
}

TEST(KafkaUrl, ParsesOneBrokerAndATopic) {
    KafkaUrl url = KafkaUrl::parse("kafka://127.0.0.1:9093/webook.inconsistencies");
    EXPECT_EQ(url.brokers, "127.0.0.1:9093");
    EXPECT_EQ(url.topic, "webook.inconsistencies");
    EXPECT_EQ(url.str(), "kafka://127.0.0.1:9093/webook.inconsistencies");
}

TEST(KafkaUrl, ParsesABrokerList) {
    KafkaUrl url = KafkaUrl::parse("kafka://k1.example.com:9092,k2.example.com:19092,10.0.0.3:9092/ev_1-x");
    EXPECT_EQ(url.brokers, "k1.example.com:9092,k2.example.com:19092,10.0.0.3:9092");
    EXPECT_EQ(url.topic, "ev_1-x");
}

TEST(KafkaUrl, DefaultsThePortTo9092) {
    EXPECT_EQ(KafkaUrl::parse("kafka://kafka1,kafka2:9093/t").brokers, "kafka1:9092,kafka2:9093");
}

TEST(KafkaUrl, AcceptsBracketedIpv6Addresses) {
    EXPECT_EQ(KafkaUrl::parse("kafka://[::1]:9092,[fe80::1]/t").brokers, "[::1]:9092,[fe80::1]:9092");
}

TEST(KafkaUrl, RefusesAUrlWithoutScheme) {
    EXPECT_NE(parse_error("127.0.0.1:9092/topic").find("no scheme"), std::string::npos);
}

TEST(KafkaUrl, RefusesAnotherScheme) {
    EXPECT_NE(parse_error("mysql://127.0.0.1:9092/topic").find("unknown scheme 'mysql'"), std::string::npos);
}

TEST(KafkaUrl, RefusesAUrlWithoutTopic) {
    EXPECT_NE(parse_error("kafka://127.0.0.1:9092").find("no topic"), std::string::npos);
    EXPECT_NE(parse_error("kafka://127.0.0.1:9092/").find("no topic"), std::string::npos);
}

TEST(KafkaUrl, RefusesAUrlWithoutBroker) {
    EXPECT_NE(parse_error("kafka:///topic").find("no broker"), std::string::npos);
    EXPECT_NE(parse_error("kafka://a:1,,b:2/topic").find("empty broker address"), std::string::npos);
    EXPECT_NE(parse_error("kafka://a:1,/topic").find("empty broker address"), std::string::npos);
}

TEST(KafkaUrl, RefusesBadPorts) {
    EXPECT_NE(parse_error("kafka://host:abc/t").find("invalid port 'abc'"), std::string::npos);
    EXPECT_NE(parse_error("kafka://host:0/t").find("invalid port '0'"), std::string::npos);
    EXPECT_NE(parse_error("kafka://host:65536/t").find("invalid port '65536'"), std::string::npos);
    EXPECT_NE(parse_error("kafka://host:9092x/t").find("invalid port"), std::string::npos);
    EXPECT_NE(parse_error("kafka://host:/t").find("missing port"), std::string::npos);
    EXPECT_NE(parse_error("kafka://host:1:2/t").find("invalid port"), std::string::npos);
}

TEST(KafkaUrl, RefusesBadHosts) {
    EXPECT_NE(parse_error("kafka://:9092/t").find("invalid host"), std::string::npos);
    EXPECT_NE(parse_error("kafka://ho st:9092/t").find("invalid host"), std::string::npos);
    EXPECT_NE(parse_error("kafka://[::1/t").find("unterminated IPv6"), std::string::npos);
}

TEST(KafkaUrl, RefusesTopicNamesKafkaWouldRefuse) {
    EXPECT_NE(parse_error("kafka://h:1/a b").find("invalid topic name 'a b'"), std::string::npos);
    EXPECT_NE(parse_error("kafka://h:1/a/b").find("invalid topic name 'a/b'"), std::string::npos);
    EXPECT_NE(parse_error("kafka://h:1/caf\xc3\xa9").find("invalid topic name"), std::string::npos);
    EXPECT_NE(parse_error("kafka://h:1/..").find("not a valid topic name"), std::string::npos);
    EXPECT_NE(parse_error("kafka://h:1/" + std::string(250, 'x')).find("longer than 249"), std::string::npos);
    EXPECT_EQ(KafkaUrl::parse("kafka://h:1/" + std::string(249, 'x')).topic.size(), 249u);
}

TEST(KafkaUrl, RefusesQueryParameters) {
    EXPECT_NE(parse_error("kafka://h:1/t?acks=1").find("query parameters"), std::string::npos);
}

TEST(KafkaUrl, RefusesCredentialsWithoutPrintingThem) {
    std::string message = parse_error("kafka://user:s3cret@h:1/t");
    EXPECT_NE(message.find("credentials are not supported"), std::string::npos);
    EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
}

// Found by fuzz/kafka_url_fuzz: the mask looked for the first '@' of the whole
// text, so one before the scheme left the credentials after it unmasked.
TEST(KafkaUrl, AnAtBeforeTheSchemeDoesNotUnmaskTheCredentials) {
    for (const char* url : {"x@kafka://user:s3cret@h:1/t", "u@v://user:s3cret@h:1/t"}) {
        const std::string message = parse_error(url);
        EXPECT_EQ(message.find("s3cret"), std::string::npos) << message;
    }
}

TEST(KafkaUrl, ErrorsShowTheExpectedForm) {
    EXPECT_NE(parse_error("kafka://h:1").find("expected kafka://host:port[,host:port...]/topic"), std::string::npos);
}

TEST(KafkaTopicName, AcceptsKafkaNamesAndRefusesOthers) {
    EXPECT_NO_THROW(validate_topic_name("webook.events_v2-a"));
    EXPECT_THROW(validate_topic_name(""), Error);
    EXPECT_THROW(validate_topic_name("a:b"), Error);
}

TEST(KafkaProducerOptions, RefusesInconsistentValues) {
    ProducerOptions options;
    EXPECT_NO_THROW(options.validate());
    options.delivery_timeout = std::chrono::milliseconds(0);
    EXPECT_THROW(options.validate(), Error);
    options = ProducerOptions{};
    options.max_queued_events = 0;
    EXPECT_THROW(options.validate(), Error);
}

TEST(KafkaConsumerOptions, RequiresHeartbeatBelowSessionTimeout) {
    ConsumerOptions options;
    EXPECT_NO_THROW(options.validate());
    options.heartbeat_interval = options.session_timeout;
    EXPECT_THROW(options.validate(), Error);
    options = ConsumerOptions{};
    options.max_poll_interval = options.session_timeout - std::chrono::milliseconds(1);
    EXPECT_THROW(options.validate(), Error);
}

}  // namespace
}  // namespace webook
