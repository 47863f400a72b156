// Where the long-running consumers read their events from: the fixer
// (inconsistency events) and the payment consumer (payment events).
//
//   kafka://host:port[,host:port]/topic  with a consumer group (--group);
//                                        offsets committed by commit() only
//   file://path.jsonl                    one event per line; replaying a file
//                                        is harmless, so commit() is a no-op;
//                                        at its end, poll() waits for lines
//                                        to be appended (like `tail -f`)
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/messaging/kafka.h"

namespace webook {

struct InputItem {
    std::string payload;
    std::string origin;  // "topic/partition@offset" or "path:line", for dead letters and logs
    // Kafka position, used by commit().
    std::int32_t partition = -1;
    std::int64_t offset = -1;
};

class EventInput {
public:
    virtual ~EventInput() = default;
    // Up to max items, waiting at most max_wait for the first.
    virtual std::vector<InputItem> poll(std::size_t max, std::chrono::milliseconds max_wait) = 0;
    // Nothing more to read for now (end of file; every partition at its end).
    virtual bool idle() const = 0;
    // Marks these items done (all earlier items are done too).
    virtual void commit(const std::vector<InputItem>& items) = 0;
    virtual std::string describe() const = 0;
    // Events behind the input's end, for metrics: Kafka, summed over the
    // partitions this member reads (EventConsumer::lag()); nullopt when not
    // known (a file, or before the first poll).
    virtual std::optional<std::int64_t> lag() const { return std::nullopt; }
};

// `group` and `options` are for kafka:// (the group is required there).
// Throws Error(Code::usage) for an unknown scheme, a Kafka input without a
// group or invalid options, Error(Code::config) for an unreadable file or a
// malformed URL, Error(Code::connection) for unreachable brokers.
std::unique_ptr<EventInput> open_input(std::string_view url, const std::string& group = {},
                                       ConsumerOptions options = {});

}  // namespace webook
