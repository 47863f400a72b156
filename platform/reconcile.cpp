// The run of the reconciliation (reconcile.h): the three tables streamed and
// merged by reward id, the suspects re-read (and repaired, reconcile_repair.cpp),
// the outbox checked. The rules are in reconcile_rules.cpp.
#include "platform/reconcile.h"

#include <algorithm>
#include <limits>
#include <memory>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/base/progress.h"
#include "core/db/dialect.h"
#include "core/migration/prefetch.h"
#include "platform/outbox.h"
#include "platform/reconcile_internal.h"
#include "platform/reconcile_repair.h"
#include "platform/rewards.h"

namespace webook {
namespace {

using reconcile_detail::entry_columns;
using reconcile_detail::entry_of;
using reconcile_detail::payment_columns;
using reconcile_detail::payment_of;
using reconcile_detail::preview_action;
using reconcile_detail::Repairer;
using reconcile_detail::RepairOutcome;
using reconcile_detail::reward_columns;
using reconcile_detail::reward_of;

// ---- Reading ----------------------------------------------------------------

// One streamed query as batches; the query starts on the first next(), on
// whichever thread reads (the Prefetcher's), so the three start at once.
class StreamSource final : public BatchSource {
public:
    StreamSource(Connection& conn, std::string what, std::string sql, std::size_t batch_rows)
        : m_conn(conn), m_what(std::move(what)), m_sql(std::move(sql)), m_batch_rows(batch_rows) {}

    bool next(std::vector<Row>& out) override {
        return with_context(m_what, [&] {
            if (!m_cursor) m_cursor = m_conn.stream(m_sql);
            return m_cursor->next_batch(out, m_batch_rows);
        });
    }

private:
    Connection& m_conn;
    std::string m_what;
    std::string m_sql;
    std::size_t m_batch_rows;
    std::unique_ptr<RowCursor> m_cursor;
};

// The rows of a source one at a time, keyed by their first column.
class KeyedRows {
public:
    explicit KeyedRows(BatchSource& source) : m_source(source) {}

    bool has() {
        while (m_pos >= m_rows.size() && !m_done) {
            m_pos = 0;
            if (!m_source.next(m_rows)) m_done = true;
        }
        return m_pos < m_rows.size();
    }
    // Only after has() returned true.
    std::int64_t key() const { return m_rows[m_pos][0].as_int(); }
    Row& row() { return m_rows[m_pos]; }
    void advance() { ++m_pos; }

private:
    BatchSource& m_source;
    std::vector<Row> m_rows;
    std::size_t m_pos = 0;
    bool m_done = false;
};

std::string id_list(const Dialect& d, std::size_t count, int first = 1) {
    return d.placeholders(first, static_cast<int>(count));
}

}  // namespace

namespace reconcile_detail {

// Column lists shared by the stream pass and the re-read: the same columns
// in the same order, read by the same functions below.
std::string reward_columns(const Dialect& d) {
    return fmt::format("{}, {}, {}, {}", d.quote("id"), d.quote("target_uid"), d.quote("amount"), d.quote("status"));
}
std::string payment_columns(const Dialect& d) {
    return fmt::format("{}, {}, {}, {}, {}, {}", d.quote("biz_id"), d.quote("id"), d.quote("trade_no"),
                       d.quote("amount"), d.quote("status"), d.quote("utime"));
}
std::string entry_columns(const Dialect& d) {
    return fmt::format("{}, {}, {}, {}, {}", d.quote("biz_id"), d.quote("id"), d.quote("account_id"), d.quote("uid"),
                       d.quote("amount"));
}

RewardRecord reward_of(const Row& r) {
    return {r[1].as_int(), r[2].as_int(), r[3].as_int()};
}
PaymentRecord payment_of(Row& r) {
    return {r[1].as_int(), std::string(r[2].as_string()), r[3].as_int(), r[4].as_int(), r[5].micros()};
}
EntryRecord entry_of(const Row& r) {
    return {r[1].as_int(), r[2].as_int(), r[3].as_int(), r[4].as_int()};
}

}  // namespace reconcile_detail

// The bounds are integers we computed and 'reward' a constant, so they are
// written into the text, and the queries stream without parameters.
RangeQueries range_queries(const Dialect& d, const IdRange& range) {
    const std::string biz = fmt::format("{} = '{}'", d.quote("biz"), k_reward_biz);
    auto in_range = [&](std::string_view column) {
        return fmt::format("{0} >= {1} AND {0} < {2}", d.quote(column), range.first, range.end);
    };
    return {fmt::format("SELECT {} FROM {} WHERE {} ORDER BY {}", reward_columns(d), d.quote("rewards"), in_range("id"),
                        d.quote("id")),
            fmt::format("SELECT {} FROM {} WHERE {} AND {} ORDER BY {}", payment_columns(d), d.quote("payments"), biz,
                        in_range("biz_id"), d.quote("biz_id")),
            fmt::format("SELECT {} FROM {} WHERE {} AND {} ORDER BY {}", entry_columns(d),
                        d.quote("account_activities"), biz, in_range("biz_id"), d.quote("biz_id"))};
}

namespace {

// A stream waits while the merge works through keys the other tables have
// and it has not; MariaDB/MySQL drop a client that has not read for
// net_write_timeout (60 s by default). Streams here may wait that long.
void allow_long_waits(Connection& conn) {
    if (auto setup = conn.dialect().long_stream_session(); !setup.empty()) conn.execute(setup);
}

// ---- The run --------------------------------------------------------------------

class Reconciler {
public:
    Reconciler(const ConnectionFactory& connect, const ReconcileOptions& options, const MismatchFn& on_mismatch)
        : m_connect(connect),
          m_options(options),
          m_emit(on_mismatch),
          m_ids(options.ids != nullptr ? *options.ids : IdGenerator::global()) {}

    ReconcileReport run() {
        const auto started = std::chrono::steady_clock::now();
        m_report.reward_ids = reward_id_range(m_options.from_micros, m_options.to_micros);
        m_work = m_connect();
        log::get("reconcile")
            ->info("reconciling rewards made {} .. {} UTC (ids {} .. {}) in {}", format_datetime(m_options.from_micros),
                   format_datetime(m_options.to_micros), m_report.reward_ids.first, m_report.reward_ids.end - 1,
                   m_work->describe());
        stream_pass();
        check_outbox();
        m_report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        return m_report;
    }

private:
    // One pass over the three streams, merged by reward id; suspicious
    // rewards are re-read in batches.
    void stream_pass() {
        std::vector<std::unique_ptr<Connection>> conns;
        for (int i = 0; i < 3; ++i) {
            conns.push_back(m_connect());
            allow_long_waits(*conns.back());
        }
        const RangeQueries q = range_queries(conns[0]->dialect(), m_report.reward_ids);
        const std::size_t batch = m_options.batch_size;
        StreamSource rewards_src(*conns[0], "reading rewards", q.rewards, batch);
        StreamSource payments_src(*conns[1], "reading payments", q.payments, batch);
        StreamSource entries_src(*conns[2], "reading account_activities", q.entries, batch);
        Prefetcher rewards_ahead(rewards_src), payments_ahead(payments_src), entries_ahead(entries_src);
        KeyedRows rewards(rewards_ahead), payments(payments_ahead), entries(entries_ahead);

        const RuleContext context{m_options.clock->wall_micros() - m_options.grace.count(), m_options.split_percent};
        RewardRows rows;
        std::uint64_t groups = 0;
        while (true) {
            std::int64_t key = std::numeric_limits<std::int64_t>::max();
            bool any = false;
            for (KeyedRows* s : {&rewards, &payments, &entries}) {
                if (s->has()) {
                    key = std::min(key, s->key());
                    any = true;
                }
            }
            if (!any) break;
            rows.clear(key);
            if (rewards.has() && rewards.key() == key) {
                rows.reward = reward_of(rewards.row());
                rewards.advance();
                ++m_report.rewards;
            }
            while (payments.has() && payments.key() == key) {
                rows.add_payment(payment_of(payments.row()));
                payments.advance();
                ++m_report.payments;
            }
            while (entries.has() && entries.key() == key) {
                rows.add_entry(entry_of(entries.row()));
                entries.advance();
                ++m_report.entries;
            }
            const Classification c = classify(rows, context);
            if (!c.mismatches.empty()) {
                m_suspects.push_back(key);
                if (m_suspects.size() >= m_options.recheck_batch) recheck();
            } else if (c.in_flight) {
                ++m_report.in_flight;
            }
            if (++groups % 4096 == 0) {
                check_interrupted();
                if (m_options.progress != nullptr)
                    m_options.progress->rows.store(m_report.rewards + m_report.payments + m_report.entries);
            }
        }
        recheck();
    }

    // Reads the suspects again on the work connection -- pending events,
    // rewards, payments, entries, in that order (see the header) -- and
    // reports what that shows, repairing it with --fix.
    void recheck() {
        if (m_suspects.empty()) return;
        check_interrupted();
        Connection& conn = *m_work;
        const Dialect& d = conn.dialect();
        const std::size_t n = m_suspects.size();
        std::vector<RewardRows> groups(n);
        for (std::size_t i = 0; i < n; ++i) groups[i].clear(m_suspects[i]);
        auto group_of = [&](std::int64_t id) -> RewardRows& {
            auto it = std::lower_bound(m_suspects.begin(), m_suspects.end(), id);
            if (it == m_suspects.end() || *it != id)
                throw Error(Code::internal, fmt::format("re-read an unasked reward id {}", id));
            return groups[static_cast<std::size_t>(it - m_suspects.begin())];
        };
        std::vector<Value> ids;
        std::vector<Value> keys{Value::integer(static_cast<std::int64_t>(OutboxStatus::pending)),
                                Value::text(m_options.topic)};
        for (std::int64_t id : m_suspects) {
            ids.push_back(Value::integer(id));
            keys.push_back(Value::text(biz_trade_no_for(id)));
        }
        std::vector<Value> biz_ids{Value::text(std::string(k_reward_biz))};
        biz_ids.insert(biz_ids.end(), ids.begin(), ids.end());

        with_context("re-reading suspicious rewards", [&] {
            for (const Row& r :
                 conn.query(fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} = {} AND {} IN {}", d.quote("msg_key"),
                                        d.quote("outbox"), d.quote("status"), d.placeholder(1), d.quote("topic"),
                                        d.placeholder(2), d.quote("msg_key"), id_list(d, n, 3)),
                            keys))
                group_of(reward_id_of(r[0].as_string())).event_pending = true;
            for (const Row& r : conn.query(fmt::format("SELECT {} FROM {} WHERE {} IN {}", reward_columns(d),
                                                       d.quote("rewards"), d.quote("id"), id_list(d, n)),
                                           ids))
                group_of(r[0].as_int()).reward = reward_of(r);
            for (Row& r :
                 conn.query(fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} IN {} ORDER BY {}, {}",
                                        payment_columns(d), d.quote("payments"), d.quote("biz"), d.placeholder(1),
                                        d.quote("biz_id"), id_list(d, n, 2), d.quote("biz_id"), d.quote("id")),
                            biz_ids))
                group_of(r[0].as_int()).add_payment(payment_of(r));
            for (const Row& r : conn.query(
                     fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} IN {} ORDER BY {}, {}", entry_columns(d),
                                 d.quote("account_activities"), d.quote("biz"), d.placeholder(1), d.quote("biz_id"),
                                 id_list(d, n, 2), d.quote("biz_id"), d.quote("id")),
                     biz_ids))
                group_of(r[0].as_int()).add_entry(entry_of(r));
        });
        m_report.rechecked += n;

        const RuleContext context{m_options.clock->wall_micros() - m_options.grace.count(), m_options.split_percent};
        // Repairs on a connection of their own when one is given (the
        // double-write connection during a migration).
        if (m_options.repair_connection && !m_repair) m_repair = m_options.repair_connection();
        Repairer repairer(m_repair ? *m_repair : conn, m_options, m_ids);
        for (const RewardRows& rows : groups) {
            Classification c = classify(rows, context);
            if (c.in_flight) ++m_report.in_flight;
            for (Mismatch& m : c.mismatches) {
                if (m.fix != Fix::none) {
                    if (m_options.fix == FixMode::repair && m_options.dry_run == DryRun::yes) {
                        m.resolution = Resolution::would_repair;
                        m.action = preview_action(m, rows, m_options);
                    } else if (m_options.fix == FixMode::repair) {
                        RepairOutcome r = repairer.apply(m, rows);
                        m.resolution = r.resolution;
                        m.action = std::move(r.action);
                    }
                }
                report(m);
            }
        }
        m_suspects.clear();
    }

    // Dead rows, and rows pending longer than the threshold: two small
    // streams over the status index.
    void check_outbox() {
        check_interrupted();
        Connection& conn = *m_work;
        const Dialect& d = conn.dialect();
        const std::int64_t now = m_options.clock->wall_micros();
        const std::int64_t cutoff = now - m_options.pending_older_than.count();
        const std::string columns =
            fmt::format("{}, {}, {}, {}, {}, {}, {}", d.quote("id"), d.quote("topic"), d.quote("msg_key"),
                        d.quote("attempts"), d.quote("last_error"), d.quote("ctime"), d.quote("next_attempt_at"));
        auto scan = [&](Category category, const std::string& where) {
            auto cursor = conn.stream(fmt::format("SELECT {} FROM {} WHERE {} ORDER BY {}", columns, d.quote("outbox"),
                                                  where, d.quote("id")));
            std::vector<Row> batch;
            while (cursor->next_batch(batch, 1000)) {
                for (const Row& r : batch) {
                    Mismatch m;
                    m.category = category;
                    m.outbox_id = r[0].as_int();
                    const std::string key(r[2].as_string());
                    if (key.starts_with("reward-")) {
                        try {
                            m.reward_id = reward_id_of(key);
                        } catch (const Error&) {
                            // Another key shape: no reward to name.
                        }
                    }
                    const std::string last_error = r[4].is_null() ? std::string("none") : std::string(r[4].as_string());
                    if (category == Category::outbox_dead) {
                        m.detail = fmt::format(
                            "outbox row {} (topic {}, key {}) is dead after {} attempts; last "
                            "error: {}",
                            m.outbox_id, r[1].as_string(), key, r[3].as_int(), last_error);
                        m.action =
                            "fix what last_error says, then set the row's status back to 0 "
                            "(pending) for the relay to retry it, or delete it";
                    } else {
                        m.detail = fmt::format(
                            "outbox row {} (topic {}, key {}) pending since {} UTC ({} min), {} "
                            "attempts, next at {} UTC; last error: {}",
                            m.outbox_id, r[1].as_string(), key, format_datetime(r[5].micros()),
                            (now - r[5].micros()) / 60'000'000, r[3].as_int(), format_datetime(r[6].micros()),
                            last_error);
                        m.action =
                            "is the relay running? (webookctl ops outbox relay); is Kafka "
                            "reachable?";
                    }
                    report(m);
                }
            }
        };
        with_context("checking the outbox", [&] {
            scan(Category::outbox_dead,
                 fmt::format("{} = {}", d.quote("status"), static_cast<int>(OutboxStatus::dead)));
            scan(Category::outbox_pending_too_long,
                 fmt::format("{} = {} AND {} < '{}'", d.quote("status"), static_cast<int>(OutboxStatus::pending),
                             d.quote("ctime"), format_datetime(cutoff)));
        });
    }

    void report(const Mismatch& m) {
        ++m_report.by_category[static_cast<std::size_t>(m.category)];
        ++m_report.mismatches;
        switch (m.resolution) {
        case Resolution::needs_human: ++m_report.needs_human; break;
        case Resolution::repairable: ++m_report.repairable; break;
        case Resolution::would_repair: ++m_report.would_repair; break;
        case Resolution::repaired: ++m_report.repaired; break;
        case Resolution::skipped: ++m_report.skipped; break;
        }
        if (m_options.progress != nullptr) ++m_options.progress->findings;
        m_emit(m);
    }

    const ConnectionFactory& m_connect;
    const ReconcileOptions& m_options;
    const MismatchFn& m_emit;
    IdGenerator& m_ids;
    std::unique_ptr<Connection> m_work;    // re-reads, repairs, the outbox
    std::unique_ptr<Connection> m_repair;  // repairs, when options.repair_connection
    std::vector<std::int64_t> m_suspects;  // ascending
    ReconcileReport m_report;
};

}  // namespace

ReconcileReport reconcile(const ConnectionFactory& connect, const ReconcileOptions& options,
                          const MismatchFn& on_mismatch) {
    options.validate();
    return Reconciler(connect, options, on_mismatch).run();
}

}  // namespace webook
