// webookctl ops outbox relay | ops payments consume | ops ledger check
//
// Registered on the `ops` group by register_ops() (cli/ops.cpp).
#include <tuple>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli.h"
#include "cli/platform.h"
#include "cli/render.h"
#include "core/base/error.h"
#include "core/base/metrics.h"
#include "core/db/db.h"
#include "core/messaging/kafka.h"
#include "core/migration/event_sink.h"
#include "platform/ledger.h"
#include "platform/outbox.h"
#include "platform/payment_consumer.h"
#include "platform/rewards.h"

namespace webook::cli {
namespace {

// ---- ops outbox relay -------------------------------------------------

struct RelayArgs {
    PlatformTarget where;
    std::string to;
    std::string brokers;
    bool until_idle = false;
    bool dry_run = false;
    std::string metrics_file;
    RelayOptions options;
};

// ops outbox relay --metrics-file: counts since the relay started.
MetricsFile relay_metrics(const RelayReport& r, const std::string& topic, bool running) {
    MetricsFile m;
    const MetricsFile::Labels l{{"topic", topic}};
    m.counter("webookctl_relay_sent_total", "Outbox rows published and marked sent", l, static_cast<double>(r.sent));
    m.counter("webookctl_relay_retried_total", "Failed attempts that scheduled a retry", l,
              static_cast<double>(r.retried));
    m.counter("webookctl_relay_dead_total", "Rows that became dead after their last attempt", l,
              static_cast<double>(r.dead));
    m.counter("webookctl_relay_batches_total", "Batches relayed", l, static_cast<double>(r.batches));
    m.gauge("webookctl_relay_failing", "1 when the last failed batch is the latest news (deliveries failing)", l,
            r.last_error.empty() ? 0 : 1);
    m.liveness("webookctl_relay", l, running);
    return m;
}

int run_relay(Context& ctx, RelayArgs& a) {
    RelayOptions options = a.options;
    options.until_idle = a.until_idle ? UntilIdle::yes : UntilIdle::no;
    options.validate();
    if (a.to.empty() == a.brokers.empty())
        throw Error(Code::usage, "pass exactly one of --to kafka://host:port/topic and --brokers host:port");
    const KafkaUrl url =
        KafkaUrl::parse(a.to.empty() ? fmt::format("kafka://{}/{}", a.brokers, k_payment_topic) : a.to);
    // During a migration the relay marks rows sent through the double-write
    // connection (both sides, in the mode's order) and reads its first side.
    auto db = ops_database(ctx, a.where);

    if (a.dry_run) {
        auto reader = db->read();
        const RelayPreview preview = preview_relay(*reader, url.topic, options);
        nlohmann::ordered_json out = nlohmann::ordered_json::array();
        std::vector<std::string> lines;
        for (const auto& r : preview.due) {
            out.push_back({{"id", r.id}, {"key", r.key}, {"attempts", r.attempts}, {"payload", r.payload}});
            lines.push_back(fmt::format("would publish outbox row {} to {} key {} (attempt {}): {}", r.id, url.topic,
                                        r.key, r.attempts + 1, r.payload));
        }
        lines.push_back(fmt::format("{} rows due{} (dry run: nothing published)", preview.due.size(),
                                    preview.more ? " in the first batch" : ""));
        render(ctx,
               nlohmann::ordered_json{{"dry_run", true}, {"topic", url.topic}, {"due", out}, {"more", preview.more}},
               lines);
        return k_exit_ok;
    }

    MetricsWriter metrics(a.metrics_file);  // checks the path before anything is done
    check_brokers(url.brokers);             // fail before touching any row
    ProducerOptions producer_options;
    producer_options.client_id = "webookctl-outbox";
    producer_options.delivery_timeout = options.flush_timeout;
    EventProducer producer(url.brokers, url.topic, producer_options);
    auto conn = db->write();
    RelayReport last;
    metrics.write(relay_metrics(last, url.topic, true));
    options.on_progress = [&](const RelayReport& so_far) {
        last = so_far;
        if (metrics.due()) metrics.write(relay_metrics(so_far, url.topic, true));
    };
    RelayReport r;
    try {
        r = relay_outbox(*conn, producer, options);
    } catch (const Error&) {
        metrics.write_after_failure([&] { return relay_metrics(last, url.topic, false); });
        throw;
    }
    metrics.write(relay_metrics(r, url.topic, false));
    render(ctx,
           nlohmann::ordered_json{{"topic", url.topic},
                                  {"sent", r.sent},
                                  {"retried", r.retried},
                                  {"dead", r.dead},
                                  {"batches", r.batches},
                                  {"last_error", r.last_error.empty() ? nlohmann::ordered_json(nullptr)
                                                                      : nlohmann::ordered_json(r.last_error)}},
           fmt::format("{} outbox rows published to {} in {} batches; {} failed attempts scheduled for retry, "
                       "{} rows dead",
                       r.sent, url.str(), r.batches, r.retried, r.dead));
    if (!r.last_error.empty())
        throw Error(Code::connection,
                    fmt::format("{} deliveries failed ({} rows dead): {}", r.retried + r.dead, r.dead, r.last_error));
    return k_exit_ok;
}

void register_outbox(CLI::App& ops, Context& ctx) {
    CLI::App* outbox = ops.add_subcommand("outbox", "the transactional outbox of payment events");
    outbox->require_subcommand(1);
    auto a = std::make_shared<RelayArgs>();
    CLI::App* relay =
        outbox->add_subcommand("relay",
                               "publish pending outbox rows to Kafka; a row is marked sent only after the brokers "
                               "acknowledged it, "
                               "failed rows are retried with exponential backoff and become dead after --max-attempts");
    add_ops_options(relay, a->where);
    auto* to = relay->add_option("--to", a->to, "where: kafka://host:port[,host:port]/topic; relays that topic's rows");
    auto* brokers = relay->add_option("--brokers", a->brokers, "host:port[,host:port]: --to with topic payment_events");
    to->excludes(brokers);
    relay->add_flag("--until-idle", a->until_idle, "exit once no row is due (default: run until signalled)");
    relay->add_flag("--dry-run", a->dry_run, "list the rows due now; publish and mark nothing");
    relay->add_option("--max-attempts", a->options.max_attempts, "failed attempts before a row is dead (default: 10)");
    relay->add_option("--batch-size", a->options.batch_size, "rows per batch (default: 500)");
    add_duration_option(relay, "--backoff", a->options.backoff, "delay before the first retry, doubled each time");
    add_duration_option(relay, "--max-backoff", a->options.max_backoff, "longest delay between retries");
    add_duration_option(relay, "--flush-timeout", a->options.flush_timeout,
                        "how long a batch may take to be acknowledged");
    add_duration_option(relay, "--idle-wait", a->options.idle_wait, "without --until-idle: poll interval while idle");
    add_metrics_option(relay, a->metrics_file, "at most once a second while it runs, and when it ends");
    example(relay, "webookctl ops outbox relay --to kafka://127.0.0.1:9092/payment_events --until-idle");
    bind_action(relay, ctx, a, run_relay);
}

// ---- ops payments consume ---------------------------------------------

struct ConsumeArgs {
    PlatformTarget where;
    std::string from;
    std::string group;
    std::string dead_letter;
    bool until_idle = false;
    bool dry_run = false;
    std::string metrics_file;
    PaymentConsumerOptions options;
    ConsumerOptions consumer;  // its session_timeout from --session-timeout
};

// ops payments consume --metrics-file: counts since the consumer started,
// its lag behind the topic.
MetricsFile consume_metrics(const PaymentConsumerReport& r, const EventInput& input, const std::string& group,
                            bool running) {
    MetricsFile m;
    const MetricsFile::Labels l{{"group", group}};
    for (auto [name, help, n] : {std::tuple{"events", "Payment events read", r.events},
                                 {"paid", "Rewards paid and booked", r.paid},
                                 {"failed", "Rewards marked failed", r.failed},
                                 {"replays", "Events applied before (replays)", r.replays},
                                 {"dead_letters", "Events that could not be used", r.dead_letters},
                                 {"batches", "Batches committed", r.batches},
                                 {"retries", "Transactions retried after temporary errors", r.retries}})
        m.counter(fmt::format("webookctl_payments_{}_total", name), help, l, static_cast<double>(n));
    if (const auto lag = input.lag())
        m.gauge("webookctl_payments_lag_events", "Events on the topic after this consumer's position (its partitions)",
                l, static_cast<double>(*lag));
    m.liveness("webookctl_payments", l, running);
    return m;
}

// What --dry-run shows for one payment event (the event is null when it
// could not be read).
nlohmann::ordered_json preview_json(const std::string& origin, const PaymentEvent* e, const SettleResult& r) {
    nlohmann::ordered_json j{{"dry_run", settlement_name(r.settlement)}, {"origin", origin}};
    if (e != nullptr) j["biz_trade_no"] = e->biz_trade_no;
    if (!r.reason.empty()) j["reason"] = r.reason;
    if (r.settlement == Settlement::paid || r.settlement == Settlement::already_paid) {
        j["entries_to_write"] = r.booking.written;
        j["entries_booked"] = r.booking.existing;
    }
    return j;
}

std::string preview_text(const std::string& origin, const PaymentEvent* e, const SettleResult& r) {
    const std::string what = e != nullptr ? e->biz_trade_no : "an unreadable event";
    switch (r.settlement) {
    case Settlement::paid:
        return fmt::format("would mark {} paid and book {} ledger entries (from {})", what, r.booking.written, origin);
    case Settlement::already_paid:
        return fmt::format("{} is already paid: a replay, {} entries to book (from {})", what, r.booking.written,
                           origin);
    case Settlement::failed: return fmt::format("would mark {} failed (from {})", what, origin);
    case Settlement::already_failed: return fmt::format("{} is already failed: a replay (from {})", what, origin);
    case Settlement::rejected: return fmt::format("would dead-letter {} from {}: {}", what, origin, r.reason);
    }
    return {};
}

int run_consume(Context& ctx, ConsumeArgs& a) {
    PaymentConsumerOptions options = a.options;
    options.until_idle = a.until_idle ? UntilIdle::yes : UntilIdle::no;
    options.dry_run = a.dry_run ? DryRun::yes : DryRun::no;
    options.validate();
    ConsumerOptions consumer = a.consumer;
    consumer.client_id = "webookctl-payments";
    consumer.heartbeat_interval = heartbeat_for(consumer.session_timeout);
    consumer.validate();
    MetricsWriter metrics(a.metrics_file);  // checks the path before anything is done

    // During a migration settlements go through the double-write connection.
    auto db = ops_database(ctx, a.where);
    std::unique_ptr<EventSink> dead_letter;
    if (!a.dead_letter.empty()) dead_letter = open_sink(a.dead_letter);
    db->read();  // the database answers before the first event is taken
    auto source = open_payment_source(a.from, a.group, consumer);
    PaymentConsumer payments(db->write, options, dead_letter.get());
    payments.set_preview_printer([&ctx](const std::string& origin, const PaymentEvent* e, const SettleResult& r) {
        render(ctx, preview_json(origin, e, r), preview_text(origin, e, r));
    });
    metrics.write(consume_metrics({}, *source, a.group, true));
    payments.set_progress_observer([&](const PaymentConsumerReport& so_far) {
        if (metrics.due()) metrics.write(consume_metrics(so_far, *source, a.group, true));
    });
    PaymentConsumerReport r;
    try {
        r = payments.run(*source);
    } catch (const Error&) {
        metrics.write_after_failure([&] { return consume_metrics(payments.report(), *source, a.group, false); });
        throw;
    }
    if (dead_letter) dead_letter->flush();
    metrics.write(consume_metrics(r, *source, a.group, false));
    render(ctx,
           nlohmann::ordered_json{{"events", r.events},
                                  {"paid", r.paid},
                                  {"failed", r.failed},
                                  {"replays", r.replays},
                                  {"dead_letters", r.dead_letters},
                                  {"batches", r.batches},
                                  {"retries", r.retries},
                                  {"split", options.split_percent},
                                  {"dry_run", a.dry_run}},
           fmt::format("{} payment events in {} batches: {} rewards paid and booked ({}/{}), {} failed, {} "
                       "replays, {} dead letters, {} retries{}",
                       r.events, r.batches, r.paid, options.split_percent, 100 - options.split_percent, r.failed,
                       r.replays, r.dead_letters, r.retries,
                       a.dry_run ? " (dry run: nothing written, no offsets committed)" : ""));
    return k_exit_ok;
}

void register_payments(CLI::App& ops, Context& ctx) {
    CLI::App* payments = ops.add_subcommand("payments", "settle rewards from payment events");
    payments->require_subcommand(1);
    auto a = std::make_shared<ConsumeArgs>();
    CLI::App* consume = payments->add_subcommand("consume",
                                                 "read payment events in a consumer group: mark "
                                                 "rewards paid and book the ledger exactly once "
                                                 "(author/platform split), or mark them failed; "
                                                 "offsets committed after the database commits");
    add_ops_options(consume, a->where);
    consume->add_option("--from", a->from, "kafka://host:port[,host:port]/topic")->required();
    consume->add_option("--group", a->group, "Kafka consumer group; consumers in one group share the partitions")
        ->required();
    consume->add_option("--split", a->options.split_percent,
                        "the author's percent of each reward; the platform gets the rest (default: 90)");
    consume->add_option("--dead-letter", a->dead_letter,
                        "where unusable events go: kafka://host:port/topic, file://path.jsonl or - "
                        "(default: logged as errors)");
    consume->add_flag("--until-idle", a->until_idle, "exit once every available event is settled");
    consume->add_flag("--dry-run", a->dry_run,
                      "print what each event would do; write nothing, dead-letter nothing, commit no offsets");
    consume->add_option("--batch-size", a->options.batch_size,
                        "events per batch between offset commits (default: 100)");
    add_duration_option(consume, "--batch-wait", a->options.batch_wait, "longest wait for a batch to fill");
    add_duration_option(consume, "--session-timeout", a->consumer.session_timeout, "Kafka consumer session timeout");
    add_metrics_option(consume, a->metrics_file, "at most once a second while it runs, and when it ends");
    example(consume,
            "webookctl ops payments consume --from kafka://127.0.0.1:9092/payment_events --group "
            "rewards "
            "--dead-letter file:///var/log/webook/payment_dead.jsonl");
    bind_action(consume, ctx, a, run_consume);
}

// ---- ops ledger check -------------------------------------------------

std::string_view account_type_name(std::int16_t type) {
    switch (type) {
    case 1: return "user";
    case 2: return "platform";
    default: return "unknown";
    }
}

int run_ledger_check(Context& ctx, const std::string& dsn) {
    auto conn = connect(resolve_dsn(ctx, Side::source, dsn, "--dsn"));
    auto mismatches = ledger_check(*conn);
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    std::vector<std::string> lines;
    for (const auto& m : mismatches) {
        nlohmann::ordered_json j{{"account_id", m.account_id}, {"uid", m.uid}};
        if (m.account_missing) {
            j["account_missing"] = true;
            lines.push_back(fmt::format("account {} does not exist but has {} entries summing to {}", m.account_id,
                                        m.entries, m.entries_sum));
        } else {
            j["type"] = account_type_name(m.type);
            j["balance"] = m.balance;
            lines.push_back(fmt::format("account {} ({} {}): balance {} but its {} entries sum to {} (off by {})",
                                        m.account_id, account_type_name(m.type), m.uid, m.balance, m.entries,
                                        m.entries_sum, m.balance - m.entries_sum));
        }
        j["entries_sum"] = m.entries_sum;
        j["entries"] = m.entries;
        out.push_back(std::move(j));
    }
    lines.push_back(mismatches.empty()
                        ? std::string("ledger balanced: every account's balance equals the sum of its entries")
                        : fmt::format("{} accounts do not add up", mismatches.size()));
    render(ctx, nlohmann::ordered_json{{"balanced", mismatches.empty()}, {"mismatches", out}}, lines);
    return mismatches.empty() ? k_exit_ok : k_exit_findings;
}

void register_ledger(CLI::App& ops, Context& ctx) {
    CLI::App* ledger = ops.add_subcommand("ledger", "the accounts and their entries");
    ledger->require_subcommand(1);
    auto dsn = std::make_shared<std::string>();
    CLI::App* check = ledger->add_subcommand("check",
                                             "every account's balance equals the sum of its "
                                             "entries; exit 1 listing the accounts that do not");
    add_ops_dsn_option(check, *dsn);
    example(check, "webookctl ops ledger check --dsn postgres://webook@127.0.0.1:15432/webook --output json");
    bind_action(check, ctx, dsn, run_ledger_check);
}

}  // namespace

void register_ops_payments(CLI::App* ops, Context& ctx) {
    register_outbox(*ops, ctx);
    register_payments(*ops, ctx);
    register_ledger(*ops, ctx);
}

}  // namespace webook::cli
