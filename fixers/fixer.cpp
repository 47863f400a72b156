#include "fixers/fixer.h"

#include <algorithm>
#include <chrono>
#include <set>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/base/retry.h"
#include "core/db/dialect.h"
#include "core/messaging/event_input.h"
#include "core/migration/checkpoint.h"
#include "core/migration/event.h"
#include "core/migration/event_sink.h"
#include "core/migration/keyset.h"
#include "core/migration/migration_mode.h"

namespace webook {
namespace {

struct KeyLess {
    bool operator()(const Row& a, const Row& b) const { return compare_key(a, b) < 0; }
};

// At most this many rows per multi-row statement (MySQL allows 65535 markers).
std::size_t rows_per_statement(std::size_t columns) {
    return std::clamp<std::size_t>(60000 / std::max<std::size_t>(columns, 1), 1, 500);
}

// Keys of rows on `side` that hold a unique value (other than the key) one
// of `present` needs, under a key `present` does not write: the upsert would
// hit them. A row written through a double-write while the other side was
// down gets a fresh id there on its next write (an interactives counter
// upserted by (biz, biz_id)), so the same unique value can sit under two keys.
// The base is authoritative: such a row cannot match its base version (the
// base has the value under the present key), so it is deleted and its key
// re-read from the base like any absent key.
std::vector<Row> displaced_keys(Connection& conn, const SidePlan& side, const std::vector<Row>& present,
                                std::size_t key_size, std::string_view lock) {
    if (side.unique_keys.empty() || present.empty()) return {};
    std::set<Row, KeyLess> written;
    for (const Row& r : present) written.insert(key_of(r, key_size));
    std::set<Row, KeyLess> out;
    for (const auto& unique : side.unique_keys) {
        for (std::size_t i = 0; i < present.size(); i += 500) {
            std::vector<Row> part(present.begin() + static_cast<std::ptrdiff_t>(i),
                                  present.begin() + static_cast<std::ptrdiff_t>(std::min(present.size(), i + 500)));
            BoundSql q = unique_lookup_query(conn.dialect(), side, unique, part);
            if (q.sql.empty()) continue;
            for (Row& key : conn.query(q.sql + std::string(lock), q.params))
                if (!written.count(key)) out.insert(std::move(key));
        }
    }
    return {out.begin(), out.end()};
}

}  // namespace

struct Fixer::Group {
    const TablePlan* plan = nullptr;
    BaseSide base = BaseSide::src;
    std::set<Row, KeyLess> keys;
};

void FixOptions::validate() const {
    if (batch_size == 0) throw Error(Code::usage, "--batch-size must be positive");
    if (max_attempts < 1) throw Error(Code::usage, "--max-attempts must be at least 1");
    if (lock_wait.count() <= 0) throw Error(Code::usage, "--lock-wait must be positive");
    if (retry_for.count() < 0) throw Error(Code::usage, "--retry-for must not be negative");
}

Fixer::Fixer(ConnectionFactory source, ConnectionFactory target, ControlFactories control,
             std::vector<TableConfig> tables, FixOptions options, EventSink* dead_letter, Clock& clock)
    : m_source_factory(std::move(source)),
      m_target_factory(std::move(target)),
      m_control_factories(std::move(control)),
      m_tables(std::move(tables)),
      m_options(options),
      m_dead_letter(dead_letter),
      m_clock(clock) {
    m_options.validate();
    if (!m_control_factories.control) throw Error(Code::internal, "a fixer needs the control database for the mode");
}

Fixer::~Fixer() = default;

// A fixer session waits for row locks at most options.lock_wait (fixer.h).
std::unique_ptr<Connection> Fixer::open(const ConnectionFactory& factory) {
    auto conn = factory();
    conn->execute(conn->dialect().lock_timeout(m_options.lock_wait));
    return conn;
}

Connection& Fixer::source() {
    if (!m_source) m_source = open(m_source_factory);
    return *m_source;
}

Connection& Fixer::target() {
    if (!m_target) m_target = open(m_target_factory);
    return *m_target;
}

// The mode fence's sessions; wait for the fence at most lock_wait, like the
// data sessions, so a switch waiting for writers is not held up.
ControlRows& Fixer::control() {
    if (!m_control) {
        ConnectionFactory control = [this] { return open(m_control_factories.control); };
        ConnectionFactory target;
        if (m_control_factories.target) target = [this] { return open(m_control_factories.target); };
        m_control.emplace(ControlRows(std::move(control), std::move(target)));
    }
    return *m_control;
}

void Fixer::reset_connections() {
    m_source.reset();
    m_target.reset();
    m_control.reset();
}

const TablePlan& Fixer::plan_for(const std::string& table) {
    auto it = m_plans.find(table);
    if (it != m_plans.end()) return *it->second;
    TableConfig config;
    config.name = table;
    if (!m_tables.empty()) {
        auto t = std::find_if(m_tables.begin(), m_tables.end(), [&](const TableConfig& c) { return c.name == table; });
        if (t == m_tables.end()) throw Error(Code::config, fmt::format("table '{}' is not configured", table));
        config = *t;
    }
    if (!valid_identifier(table))
        throw Error(Code::config, fmt::format("invalid table name '{}'", table.substr(0, 80)));
    // A fix repairs whole rows: ignored columns are written too.
    auto plan = std::make_unique<TablePlan>(plan_table(source(), target(), config, IgnoredColumns::carried));
    require_matched_columns(*plan, "fix");  // a fix of some columns would leave the rest unrepaired
    return *m_plans.emplace(table, std::move(plan)).first->second;
}

void Fixer::dead_letter(const InputItem& item, const std::string& why) {
    ++m_report.dead_letters;
    write_dead_letter(m_dead_letter, item, why, "fix");
}

FixReport Fixer::run(EventInput& input) {
    const auto* logger = log::get("fix");
    logger->info("fixing from {}{}", input.describe(), m_options.dry_run == DryRun::yes ? " (dry run)" : "");
    // The configured tables are planned first: a mistake in the config (a
    // column that does not exist) fails the run, not every event after it.
    for (const auto& t : m_tables) plan_for(t.name);
    RetryBudget outage(m_options.retry_for, m_clock, "fixing");
    while (true) {
        check_interrupted();
        // Caught up after the last batch: no need to wait for more.
        if (m_options.until_idle == UntilIdle::yes && input.idle()) break;
        auto items = input.poll(m_options.batch_size, m_options.batch_wait);
        if (items.empty()) {
            if (m_progress_fn) m_progress_fn(m_report);
            continue;
        }
        // A batch a server outage ended is done again, whole (its offsets are
        // not committed; upserts and deletes are idempotent).
        const FixReport before = m_report;
        run_resumable(
            outage,
            [&] {
                process_batch(input, items);
                outage.progressed();
            },
            [&] {
                // The failed attempt's counts go; its retries, and this one, stay.
                const std::uint64_t retries = m_report.retries + 1;
                m_report = before;
                m_report.retries = retries;
                reset_connections();
                return true;
            });
        if (m_progress_fn) m_progress_fn(m_report);
    }
    return m_report;
}

void Fixer::process_batch(EventInput& input, std::vector<InputItem>& items) {
    m_report.events += items.size();
    ++m_report.batches;
    // (table, base) -> keys
    std::map<std::pair<std::string, BaseSide>, Group> groups;
    for (const auto& item : items) {
        InconsistencyEvent e;
        try {
            e = InconsistencyEvent::parse(item.payload);
        } catch (const Error& err) {
            dead_letter(item, err.what());
            continue;
        }
        const TablePlan* plan = nullptr;
        try {
            plan = &plan_for(e.table);
        } catch (const Error& err) {
            if (err.code() != Code::config) throw;  // a database problem is not the event's fault
            dead_letter(item, err.what());
            continue;
        }
        // The event's key columns, in the plan's key order and kinds.
        Row key;
        std::string problem;
        for (std::size_t i = 0; i < plan->source.key.size() && problem.empty(); ++i) {
            auto at = std::find(e.key_columns.begin(), e.key_columns.end(), plan->source.key[i]);
            if (at == e.key_columns.end()) {
                problem = fmt::format("key of {} lacks column '{}'", e.table, plan->source.key[i]);
                break;
            }
            const Value& raw = e.key[static_cast<std::size_t>(at - e.key_columns.begin())];
            try {
                key.push_back(Value::parse(plan->source.kinds[i], raw.display()));
            } catch (const Error& err) {
                problem = fmt::format("key column '{}' of {}: {}", plan->source.key[i], e.table, err.what());
            }
        }
        if (problem.empty() && e.key_columns.size() != plan->source.key.size())
            problem = fmt::format("key of {} has {} columns, the table's key has {}", e.table, e.key_columns.size(),
                                  plan->source.key.size());
        if (!problem.empty()) {
            dead_letter(item, problem);
            continue;
        }
        Group& g = groups[{e.table, e.base}];
        g.plan = plan;
        g.base = e.base;
        if (!g.keys.insert(std::move(key)).second) ++m_report.duplicates;
    }
    for (auto& [id, group] : groups) fix_group(group);
    // Dead letters are durable before the offsets that skip them are committed.
    if (m_dead_letter != nullptr) m_dead_letter->flush();
    if (m_options.dry_run == DryRun::no) input.commit(items);
}

void Fixer::fix_group(Group& group) {
    std::vector<Row> keys(group.keys.begin(), group.keys.end());
    const auto* logger = log::get("fix");
    for (int round = 0; round < 3 && !keys.empty(); ++round) {
        std::vector<Row> absent;
        BaseSide base = group.base;
        // Keys per transaction: all of them, halved after each failure, so
        // a batch that keeps meeting live writers' locks still gets through.
        std::size_t at_once = keys.size();
        const RetryPolicy policy{
            .attempts = m_options.max_attempts, .first_delay = m_options.backoff, .max_delay = m_options.backoff * 64};
        for (std::size_t start = 0; start < keys.size();) {
            std::size_t n = 0;  // keys in this transaction
            try {
                retry_with_backoff(
                    policy, m_clock,
                    [&](int attempt) {
                        if (attempt > 1) check_interrupted();
                        n = std::min(at_once, keys.size() - start);
                        const std::vector<Row> part(keys.begin() + static_cast<std::ptrdiff_t>(start),
                                                    keys.begin() + static_cast<std::ptrdiff_t>(start + n));
                        const std::size_t absent_before = absent.size();
                        try {
                            base = apply_once(group, part, absent);
                        } catch (const Error&) {
                            absent.resize(absent_before);
                            throw;
                        }
                    },
                    [&](const Error& e, int attempt, std::chrono::microseconds pause) {
                        ++m_report.retries;
                        at_once = std::max<std::size_t>(1, n / 2);
                        logger->warn("fixing {}: {} (attempt {} of {}; retrying {} keys in {} ms)", group.plan->name,
                                     e.what(), attempt, m_options.max_attempts, std::min(at_once, n),
                                     pause.count() / 1000);
                        reset_connections();
                    });
            } catch (const Error& e) {
                if (e.code() == Code::interrupted) throw;
                throw e.context(fmt::format("fixing {} ({} keys)", group.plan->name, n));
            }
            start += n;
        }
        if (absent.empty() || m_options.dry_run == DryRun::yes) return;
        // Absent keys were not locked: re-read them; any that appeared on the
        // base meanwhile must be copied after all.
        Connection& base_conn = base == BaseSide::dst ? target() : source();
        const SidePlan& side = group.plan->side(base);
        BoundSql q = key_lookup_query(base_conn.dialect(), side, absent);
        keys.clear();
        for (auto& row : base_conn.query(q.sql, q.params)) keys.push_back(key_of(row, group.plan->key_size()));
    }
}

BaseSide Fixer::apply_once(Group& group, const std::vector<Row>& keys, std::vector<Row>& absent) {
    const TablePlan& plan = *group.plan;
    // The mode, held until both sides have committed (fixer.h).
    ModeFence fence(control(), IfNoMigration::src_only);
    const BaseSide base_side_now = fix_base(fence.mode(), group.base);
    if (base_side_now != group.base && m_options.dry_run == DryRun::no)
        log::get("fix")->info("{}: {} key(s) from events naming {} as base, repaired from {} (the base in {})",
                              plan.name, keys.size(), base_side_name(group.base), base_side_name(base_side_now),
                              mode_name(fence.mode()));
    const bool base_is_target = base_side_now == BaseSide::dst;
    Connection& base = base_is_target ? target() : source();
    Connection& other = base_is_target ? source() : target();
    const SidePlan& base_side = plan.side(base_side_now);
    const SidePlan& other_side = plan.side(other_side_of(base_side_now));
    const std::string_view other_name = base_is_target ? "source" : "target";

    using Ms = std::chrono::duration<double, std::milli>;
    const auto t_start = std::chrono::steady_clock::now();
    Transaction base_tx(base);
    BoundSql read = key_lookup_query(base.dialect(), base_side, keys,
                                     m_options.dry_run == DryRun::yes ? "" : base.dialect().for_share());
    std::vector<Row> present = base.query(read.sql, read.params);
    const auto t_read = std::chrono::steady_clock::now();
    if (!base_side.charsets.empty())  // text without a Unicode form is refused, not written as '?'
        for (const Row& r : present) {
            try {
                require_carried(base_side, r);
            } catch (const Error& e) {
                throw e.context(fmt::format("the row with key {}", encode_key(key_of(r, plan.key_size()))));
            }
        }
    // Keys not found on the base are deleted on the other side.
    std::size_t p = 0;
    for (const Row& k : keys) {
        while (p < present.size() && compare_key(key_of(present[p], plan.key_size()), k) < 0) ++p;
        if (p < present.size() && compare_key(key_of(present[p], plan.key_size()), k) == 0) continue;
        absent.push_back(k);
    }
    if (m_options.dry_run == DryRun::yes) {
        for (const Row& k : displaced_keys(other, other_side, present, plan.key_size(), {})) absent.push_back(k);
        for (const Row& k : absent)
            if (m_dry_run_fn) m_dry_run_fn("delete", plan.name, k, other_name);
        for (const Row& r : present)
            if (m_dry_run_fn) m_dry_run_fn("upsert", plan.name, key_of(r, plan.key_size()), other_name);
        return base_side_now;
    }
    const std::uint64_t written_before = m_report.upserted + m_report.deleted;
    {
        Transaction other_tx(other);
        const Dialect& d = other.dialect();
        // Deletes first: a stale row being removed may hold a unique value
        // that an upserted row needs.
        for (std::size_t i = 0; i < absent.size(); i += 500) {
            std::vector<Row> part(absent.begin() + static_cast<std::ptrdiff_t>(i),
                                  absent.begin() + static_cast<std::ptrdiff_t>(std::min(absent.size(), i + 500)));
            BoundSql del = key_delete_query(d, other_side, part);
            m_report.deleted += other.execute(del.sql, del.params).affected_rows;
        }
        // Then rows holding a unique value an upserted row needs under another
        // key; they are re-read from the base below, like absent keys.
        const std::vector<Row> displaced = displaced_keys(other, other_side, present, plan.key_size(), d.for_update());
        if (!displaced.empty()) {
            BoundSql del = key_delete_query(d, other_side, displaced);
            m_report.deleted += other.execute(del.sql, del.params).affected_rows;
            log::get("fix")->info(
                "{}: {} row(s) on the {} held a unique value under another key: deleted, and "
                "re-read from the base",
                plan.name, displaced.size(), other_name);
            absent.insert(absent.end(), displaced.begin(), displaced.end());
        }
        // Generated columns are the server's to compute.
        const std::vector<std::string> written = written_columns(other_side);
        const std::size_t per = rows_per_statement(written.size());
        for (std::size_t i = 0; i < present.size(); i += per) {
            const std::size_t n = std::min(per, present.size() - i);
            std::vector<Value> params;
            params.reserve(n * written.size());
            for (std::size_t r = i; r < i + n; ++r)
                for (auto& v : written_values(other_side, present[r])) params.push_back(std::move(v));
            other.execute(d.upsert(other_side.table, written, other_side.key, static_cast<int>(n)), params);
            m_report.upserted += n;
        }
        other_tx.commit();
    }
    // Rows inserted with the base's ids: a sequence on the other side must
    // not hand them out again once that side takes writes of its own.
    if (!present.empty()) move_identity_past_rows(other, other_side);
    const auto t_other = std::chrono::steady_clock::now();
    base_tx.commit();
    const bool in_migration = fence.held();
    fence.release();
    // What was repaired, for `migrate status` and the validation records.
    if (in_migration) {
        try {
            CheckpointStore(control().records())
                .add_fixed(plan.name, static_cast<std::int64_t>(m_report.upserted + m_report.deleted - written_before));
        } catch (const Error& e) {
            log::get("fix")->warn("{}: could not count the fixed rows in the control table: {}", plan.name, e.what());
        }
    }
    if (base_side_now != group.base) m_report.rebased += keys.size();
    log::get("fix")->debug(
        "{}: {} upserted, {} deleted on the {} (base read {:.0f} ms, {} {:.0f} ms, base commit "
        "{:.0f} ms)",
        plan.name, present.size(), absent.size(), other_name, Ms(t_read - t_start).count(), other_name,
        Ms(t_other - t_read).count(), Ms(std::chrono::steady_clock::now() - t_other).count());
    return base_side_now;
}

}  // namespace webook
