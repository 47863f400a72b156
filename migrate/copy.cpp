#include "migrate/copy.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/base/retry.h"
#include "core/db/catalog.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/migration/checkpoint.h"
#include "core/migration/checkpoint_records.h"
#include "core/migration/keyset.h"
#include "core/migration/migration_mode.h"
#include "core/migration/prefetch.h"

namespace webook {
namespace {

// The phase a copy needs (copy.h): refused past src_only.
void require_copy_phase(Mode mode, const std::string& table) {
    if (std::string why = copy_refusal(mode); !why.empty())
        throw Error(Code::usage, fmt::format("not copying {}: {}", table, why));
}

// "WHERE <filter> AND <after bound>" for the target side, for emptiness
// checks and clean-ups within this shard.
std::string target_where(const Dialect& d, const SidePlan& side, const ShardFilter& filter, const KeyBounds& bounds,
                         std::vector<Value>& params) {
    params = filter.params;
    return where_clause(d, side, filter.sql, bounds, params);
}

// The tables whose foreign keys on `target` reference `table` and that hold
// rows, less those in `emptied_too`.
std::vector<std::string> children_with_rows(Connection& target, const std::string& table,
                                            const std::vector<std::string>& emptied_too = {}) {
    const Dialect& d = target.dialect();
    std::vector<std::string> out;
    for (const auto& child : foreign_key_children(target, table))
        if (std::find(emptied_too.begin(), emptied_too.end(), child) == emptied_too.end() &&
            target.query_one(fmt::format("SELECT 1 FROM {} LIMIT 1", d.quote(child))))
            out.push_back(child);
    return out;
}

// Empties one target table. TRUNCATE, unless other tables' foreign keys
// reference it: both servers refuse to truncate such a table even when
// those tables are empty, so it is emptied by DELETE -- after the check
// that none of them holds rows, which would make the DELETE fail or, with
// ON DELETE CASCADE, empty a table the copy was not asked to touch.
void empty_target(Connection& target, const std::string& table) {
    const Dialect& d = target.dialect();
    if (foreign_key_children(target, table).empty()) {
        target.execute(d.truncate(table));
        return;
    }
    if (auto children = children_with_rows(target, table); !children.empty())
        throw Error(Code::usage,
                    fmt::format("target table {} in {} cannot be emptied: rows of {} reference it by a foreign key; "
                                "copy {} in the same run with --truncate (children are emptied first), or empty "
                                "{} yourself",
                                table, target.describe(), fmt::join(children, ", "),
                                children.size() == 1 ? "it" : "them", children.size() == 1 ? "it" : "them"));
    target.execute(fmt::format("DELETE FROM {}", d.quote(table)));
}

// Writes batches on several target connections; reports completions in
// batch order so the caller can checkpoint the longest committed prefix.
class ParallelWriter {
public:
    // `read` is the side the rows come from, `side` the one they go to.
    ParallelWriter(std::vector<Connection*> conns, const SidePlan& read, const SidePlan& side, const std::string& name,
                   const ControlFactories& mode_fence)
        : m_read(read), m_side(side), m_name(name), m_mode_fence(mode_fence) {
        for (Connection* c : conns) m_threads.emplace_back([this, c] { work(*c); });
    }

    ~ParallelWriter() { stop(); }

    // Queues batch `seq` (0, 1, 2, ... in key order); blocks while every
    // writer is busy and one batch waits.
    void submit(std::uint64_t seq, std::vector<Row> rows) {
        std::unique_lock lock(m_mutex);
        m_changed.wait(lock, [&] { return m_queue.size() < m_threads.size() || m_error; });
        rethrow_locked();
        m_queue.push_back({seq, std::move(rows)});
        m_changed.notify_all();
    }

    // The highest seq such that it and all before it committed (or -1).
    // Does not throw: after a failure, what committed is still worth saving.
    std::int64_t committed_prefix() {
        std::lock_guard lock(m_mutex);
        while (m_done.count(static_cast<std::uint64_t>(m_prefix + 1)))
            m_done.erase(static_cast<std::uint64_t>(++m_prefix));
        return m_prefix;
    }

    // Waits until every submitted batch committed (or one failed).
    void drain() {
        std::unique_lock lock(m_mutex);
        m_changed.wait(lock, [&] { return (m_queue.empty() && m_busy == 0) || m_error; });
        rethrow_locked();
    }

    void stop() {
        {
            std::lock_guard lock(m_mutex);
            if (m_stopping) return;
            m_stopping = true;
        }
        m_changed.notify_all();
        for (auto& t : m_threads) t.join();
    }

private:
    struct Job {
        std::uint64_t seq;
        std::vector<Row> rows;
    };

    void rethrow_locked() {
        if (m_error) std::rethrow_exception(m_error);
    }

    void work(Connection& conn) {
        std::optional<ControlRows> fence_rows;  // this writer's, for the mode fence
        while (true) {
            Job job;
            {
                std::unique_lock lock(m_mutex);
                m_changed.wait(lock, [&] { return !m_queue.empty() || m_stopping; });
                if (m_queue.empty()) return;
                job = std::move(m_queue.front());
                m_queue.pop_front();
                ++m_busy;
            }
            try {
                Transaction tx(conn);
                std::size_t sent = 0;  // rows the writer took
                try {
                    // Generated columns are the server's to compute.
                    const bool project = has_generated(m_side);
                    const bool checked = !m_read.charsets.empty();  // text without a Unicode form is refused
                    auto writer = conn.bulk_insert(m_side.table, project ? written_columns(m_side) : m_side.columns);
                    for (const Row& r : job.rows) {
                        if (checked) require_carried(m_read, r);
                        if (project)
                            writer->write(written_values(m_side, r));
                        else
                            writer->write(r);  // no copy of the row on the common path
                        ++sent;
                    }
                    writer->finish();
                } catch (const Error& e) {
                    // Which rows: a value the server refuses (too large, out
                    // of range) is found by its key, and so is one the writer
                    // has no form of for this server (MySQL's zero date).
                    const std::size_t key_size = m_side.key.size();
                    if (e.code() == Code::data && sent < job.rows.size())
                        throw e.context(
                            fmt::format("writing the row with key {}", encode_key(key_of(job.rows[sent], key_size))));
                    if (auto line = bulk_load_line(e); line && *line <= job.rows.size())
                        throw e.context(fmt::format("writing the row with key {}",
                                                    encode_key(key_of(job.rows[*line - 1], key_size))));
                    throw e.context(fmt::format("writing the {} rows with keys {} .. {}", job.rows.size(),
                                                encode_key(key_of(job.rows.front(), key_size)),
                                                encode_key(key_of(job.rows.back(), key_size))));
                }
                if (!fence_rows) fence_rows.emplace(m_mode_fence.open());
                ModeFence fence(*fence_rows, IfNoMigration::src_only);
                require_copy_phase(fence.mode(), m_name);
                tx.commit();
                fence.release();
                std::lock_guard lock(m_mutex);
                m_done.insert(job.seq);
            } catch (...) {
                std::lock_guard lock(m_mutex);
                if (!m_error) m_error = std::current_exception();
            }
            std::lock_guard lock(m_mutex);
            --m_busy;
            m_changed.notify_all();
        }
    }

    const SidePlan& m_read;
    const SidePlan& m_side;
    const std::string& m_name;
    const ControlFactories& m_mode_fence;
    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<Job> m_queue;
    std::set<std::uint64_t> m_done;
    std::int64_t m_prefix = -1;
    int m_busy = 0;
    bool m_stopping = false;
    std::exception_ptr m_error;
    std::vector<std::thread> m_threads;
};

// Runs the statements on up to conns.size() connections at once; the error
// of each statement, if any, at its position.
std::vector<std::exception_ptr> run_all(const std::vector<std::string>& statements,
                                        const std::vector<Connection*>& conns) {
    std::vector<std::exception_ptr> errors(statements.size());
    std::atomic<std::size_t> next{0};
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < std::min(statements.size(), conns.size()); ++t)
        threads.emplace_back([&, t] {
            for (std::size_t i = next++; i < statements.size(); i = next++) {
                try {
                    conns[t]->execute(statements[i]);
                } catch (...) {
                    errors[i] = std::current_exception();
                }
            }
        });
    for (auto& th : threads) th.join();
    return errors;
}

// The secondary indexes of one target table while a copy defers them (see
// copy.h): definitions saved before each drop, rebuilt at the end.
class DeferredIndexes {
public:
    DeferredIndexes(Connection& target, CheckpointStore& checkpoints, const TablePlan& plan)
        : m_target(target), m_checkpoints(checkpoints), m_name(plan.name), m_table(plan.target.table) {}

    // Saves every secondary index's definition, then drops the index.
    void drop() {
        const Dialect& d = m_target.dialect();
        for (const IndexDefinition& ix : secondary_indexes(m_target, m_table)) {
            save_record(m_checkpoints, DeferredIndex{m_name, ix.name, ix.definition});
            m_target.execute(d.drop_index(m_table, ix));
            ++m_dropped;
            log::get("copy")->info("{}: index {} dropped for the load (rebuilt after it)", m_name, ix.name);
        }
    }

    int dropped() const { return m_dropped; }

    // Rebuilds every saved index the target lacks -- this run's and any an
    // earlier run left behind -- on up to conns.size() connections at once,
    // then forgets the definitions.
    void rebuild(const std::vector<Connection*>& conns) {
        std::vector<DeferredIndex> saved;
        for (auto& ix : records_of<DeferredIndex>(m_checkpoints.load_all()))
            if (ix.table == m_name) saved.push_back(std::move(ix));
        if (saved.empty()) return;
        const Dialect& d = m_target.dialect();
        std::set<std::string> present;
        for (const auto& ix : secondary_indexes(m_target, m_table)) present.insert(ix.name);
        std::vector<IndexDefinition> missing;
        for (const auto& ix : saved)
            if (!present.count(ix.name)) missing.push_back({ix.name, ix.definition});
        const auto started = std::chrono::steady_clock::now();
        // One statement may build several indexes (MySQL): when it fails, each
        // index is tried alone, so one bad index does not hold up the others.
        std::vector<std::string> failed;
        std::exception_ptr first_error;
        auto build = [&](const std::vector<IndexDefinition>& group) {
            const std::vector<std::string> statements = d.create_indexes(m_table, group);
            std::vector<std::exception_ptr> errors = run_all(statements, conns);
            for (std::size_t i = 0; i < errors.size(); ++i) {
                if (!errors[i]) continue;
                if (statements.size() == 1 && group.size() > 1) return false;
                failed.push_back(statements.size() == group.size() ? group[i].name : group[0].name);
                if (!first_error) first_error = errors[i];
            }
            return true;
        };
        if (!build(missing))
            for (const auto& ix : missing) build({ix});
        if (first_error) {
            std::string names;
            for (const auto& n : failed) names += (names.empty() ? "" : ", ") + n;
            with_context(fmt::format("rebuilding index {} of {} after the load (the definitions stay in the "
                                     "control table; the next `migrate copy --resume` of the table rebuilds "
                                     "them)",
                                     names, m_name),
                         [&] { std::rethrow_exception(first_error); });
        }
        for (const auto& ix : saved) clear_record(m_checkpoints, ix);
        std::string names;
        for (const auto& ix : missing) names += (names.empty() ? "" : ", ") + ix.name;
        if (!missing.empty())
            log::get("copy")->info("{}: rebuilt {} in {:.2f}s", m_name, names,
                                   std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }

private:
    Connection& m_target;
    CheckpointStore& m_checkpoints;
    std::string m_name, m_table;
    int m_dropped = 0;
};

}  // namespace

void CopyOptions::validate() const {
    if (batch_size == 0) throw Error(Code::usage, "--batch-size must be positive");
    if (writers < 1 || writers > 16) throw Error(Code::usage, "--writers must be between 1 and 16");
    throttle.validate();
    if (retry_for.count() < 0) throw Error(Code::usage, "--retry-for must not be negative");
}

namespace {

// One attempt at copying the table, starting as options.start says; each
// checkpoint saved is progress for `budget`.
CopyReport copy_attempt(SideConnections conns, const TablePlan& plan, const CopyOptions& options,
                        CheckpointStore& checkpoints, const ConnectionFactory& more_writers, RetryBudget& budget) {
    const auto started = std::chrono::steady_clock::now();
    const auto* logger = log::get("copy");
    Connection& target = conns.target;
    const Dialect& d = target.dialect();
    const std::string shard = options.shard.str();
    CopyReport report;
    report.table = plan.name;

    ShardFilter src_filter, dst_filter;
    if (!options.shard.whole()) {
        ShardRange range = shard_range(conns, plan, options.shard, checkpoints);
        src_filter = shard_filter(conns.source.dialect(), plan.source, range);
        dst_filter = shard_filter(d, plan.target, range);
    }

    // The target is prepared under the fence: nothing is emptied or dropped
    // unless the phase allows the copy.
    ControlRows fence_rows = options.mode_fence.open();
    std::optional<ModeFence> fence(std::in_place, fence_rows, IfNoMigration::src_only);
    require_copy_phase(fence->mode(), plan.name);

    // Where to start, and what to clear on the target first.
    KeyBounds bounds;
    std::int64_t done_before = 0;
    if (options.start == CopyStart::resume) {
        if (auto cp = load_record<CopyProgress>(checkpoints, plan.name, shard); cp && cp->last_key) {
            bounds.after = decode_key(*cp->last_key, plan.source.kinds);
            done_before = cp->rows;
            report.resumed_after = encode_key(*bounds.after);
        }
    }
    {
        std::vector<Value> params;
        std::string where = target_where(d, plan.target, dst_filter, bounds, params);
        if (options.start == CopyStart::fresh) {
            if (target.query_one(fmt::format("SELECT 1 FROM {}{} LIMIT 1", d.quote(plan.target.table), where), params))
                throw Error(Code::usage,
                            fmt::format("target table {} in {} is not empty{}: pass --resume to continue a copy or "
                                        "--truncate to start over",
                                        plan.target.table, target.describe(),
                                        options.shard.whole() ? "" : " in shard " + shard));
        } else if (options.start == CopyStart::truncate && options.shard.whole()) {
            empty_target(target, plan.target.table);
        } else {
            // Rows past the checkpoint came from a batch whose checkpoint was
            // never saved (or, with --truncate and a shard, this shard's rows).
            auto r = target.execute(fmt::format("DELETE FROM {}{}", d.quote(plan.target.table), where), params);
            if (r.affected_rows > 0)
                logger->info("{}: removed {} target rows past the checkpoint", plan.name, r.affected_rows);
        }
        if (options.start != CopyStart::resume) checkpoints.clear(CheckpointKind::copy, plan.name, shard);
    }
    if (bounds.after) logger->info("{}: resuming after key {}", plan.name, report.resumed_after);
    DeferredIndexes indexes(target, checkpoints, plan);
    if (options.indexes == IndexBuild::deferred && options.shard.whole()) indexes.drop();
    fence.reset();

    // Writers: the given target connection plus (writers - 1) more.
    std::vector<std::unique_ptr<Connection>> extra;
    std::vector<Connection*> writer_conns{&target};
    if (more_writers)
        for (int i = 1; i < options.writers; ++i) writer_conns.push_back(extra.emplace_back(more_writers()).get());

    ThrottledKeysetReader reader(conns.source, plan.source, bounds, options.batch_size, options.throttle,
                                 src_filter.sql, src_filter.params);
    std::uint64_t rows = 0;
    std::optional<std::string> last_key = bounds.after ? std::optional(report.resumed_after) : std::nullopt;
    with_context(fmt::format("copying {} to {}", plan.name, target.describe()), [&] {
        Prefetcher ahead(reader);
        ParallelWriter writers(writer_conns, plan.source, plan.target, plan.name, options.mode_fence);
        // Per submitted batch, in order: (seq, last key, rows so far).
        std::deque<std::tuple<std::int64_t, std::string, std::uint64_t>> pending;
        std::int64_t saved = -1;
        auto save_progress = [&] {
            const std::int64_t prefix = writers.committed_prefix();
            std::optional<std::string> key;
            std::uint64_t done = 0;
            while (!pending.empty() && std::get<0>(pending.front()) <= prefix) {
                key = std::get<1>(pending.front());
                done = std::get<2>(pending.front());
                pending.pop_front();
            }
            if (!key || prefix == saved) return;
            saved = prefix;
            last_key = key;
            save_record(checkpoints,
                        CopyProgress{plan.name, shard, last_key, done_before + static_cast<std::int64_t>(done)});
            budget.progressed();
            logger->debug("{}: {} rows copied", plan.name, done);
        };
        std::vector<Row> batch;
        std::uint64_t seq = 0;
        try {
            while (!interrupted() && ahead.next(batch)) {
                rows += batch.size();
                if (options.progress) options.progress->rows += batch.size();
                pending.emplace_back(static_cast<std::int64_t>(seq), encode_key(key_of(batch.back(), plan.key_size())),
                                     rows);
                writers.submit(seq++, std::move(batch));
                batch = {};
                save_progress();
            }
            writers.drain();
        } catch (...) {
            // Keep what committed before the failure: a resume starts there.
            writers.stop();
            save_progress();
            if (indexes.dropped() > 0)
                logger->warn(
                    "{}: secondary indexes dropped for the load stay dropped until a copy of the "
                    "table "
                    "completes (`migrate copy --resume`)",
                    plan.name);
            throw;
        }
        save_progress();
        writers.stop();
        check_interrupted();
        fence.emplace(fence_rows, IfNoMigration::src_only);
        require_copy_phase(fence->mode(), plan.name);
        fence.reset();
        indexes.rebuild(writer_conns);
        // Rows arrived with explicit ids: move the target's id generator past them.
        move_identity_past_rows(target, plan.target);
    });
    report.rows = rows;
    report.rows_total = static_cast<std::uint64_t>(done_before) + rows;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    save_record(checkpoints, CopyProgress{plan.name, shard, last_key, static_cast<std::int64_t>(report.rows_total),
                                          true, report.seconds});
    return report;
}

}  // namespace

CopyReport copy_table(SideConnections conns, const TablePlan& plan, const CopyOptions& options,
                      CheckpointStore& checkpoints, const ConnectionFactory& more_writers) {
    options.validate();
    if (!options.mode_fence.control)
        throw Error(Code::internal, "a copy needs a connection factory for the mode fence");
    const auto started = std::chrono::steady_clock::now();
    RetryBudget budget(options.retry_for, Clock::real(),
                       fmt::format("copying {} to {}", plan.name, conns.target.describe()));
    // Where this run began, for its report when it had to go on from a later checkpoint.
    std::optional<CopyProgress> began;
    if (options.start == CopyStart::resume)
        began = load_record<CopyProgress>(checkpoints, plan.name, options.shard.str());
    CopyOptions attempt = options;
    CopyReport report = run_resumable(
        budget, [&] { return copy_attempt(conns, plan, attempt, checkpoints, more_writers, budget); },
        [&] {
            // The next attempt goes on from the checkpoint, whatever this one began with.
            attempt.start = CopyStart::resume;
            return reset_sessions({&conns.source, &conns.target, &checkpoints.connection()});
        });
    if (budget.report().retries > 0) {
        // Counted from where this run began, not from the last attempt's start.
        report.rows = report.rows_total - (began ? static_cast<std::uint64_t>(began->rows) : 0);
        report.resumed_after = began && began->last_key ? *began->last_key : "";
    }
    const RetryReport retried = budget.report();
    report.retries = retried.retries;
    report.longest_outage_seconds = std::chrono::duration<double>(retried.longest_outage).count();
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return report;
}

namespace {

std::uint64_t count_rows(Connection& conn, const std::string& table, const std::string& where = "",
                         const std::vector<Value>& params = {}) {
    const Dialect& d = conn.dialect();
    auto row = conn.query_one(fmt::format("SELECT COUNT(*) FROM {}{}", d.quote(table), where), params);
    return row ? static_cast<std::uint64_t>((*row)[0].as_int()) : 0;
}

// The first or last key of a side in key order, encoded; "" when empty.
std::string edge_key(Connection& conn, const SidePlan& side, bool last) {
    const Dialect& d = conn.dialect();
    std::string cols, order;
    for (const auto& k : side.key) {
        cols += (cols.empty() ? "" : ", ") + d.quote(k);
        order += (order.empty() ? "" : ", ") + d.quote(k) + (last ? " DESC" : "");
    }
    auto row = conn.query_one(fmt::format("SELECT {} FROM {} ORDER BY {} LIMIT 1", cols, d.quote(side.table), order));
    return row ? encode_key(*row) : "";
}

}  // namespace

std::string emptying_refusal(Connection& target, const TablePlan& plan, const std::vector<TablePlan>& plans,
                             const CopyOptions& options) {
    if (options.start != CopyStart::truncate || !options.shard.whole()) return {};
    std::vector<std::string> tables;
    for (const auto& p : plans) tables.push_back(p.target.table);
    const auto outside = children_with_rows(target, plan.target.table, tables);
    if (outside.empty()) return {};
    const char* pronoun = outside.size() == 1 ? "it" : "them";
    return fmt::format(
        "target table {} in {} cannot be emptied: rows of {} (not in this copy) reference it by a "
        "foreign key; add {} to the copy, or empty {} yourself",
        plan.target.table, target.describe(), fmt::join(outside, ", "), pronoun, pronoun);
}

void empty_targets(Connection& target, const std::vector<TablePlan>& plans, const CopyOptions& options) {
    if (options.start != CopyStart::truncate || !options.shard.whole()) return;
    for (const auto& plan : plans)
        if (std::string why = emptying_refusal(target, plan, plans, options); !why.empty())
            throw Error(Code::usage, why);
    for (auto plan = plans.rbegin(); plan != plans.rend(); ++plan) {
        ControlRows fence_rows = options.mode_fence.open();
        ModeFence fence(fence_rows, IfNoMigration::src_only);
        require_copy_phase(fence.mode(), plan->name);
        empty_target(target, plan->target.table);
    }
}

std::vector<std::size_t> copy_order(Connection& target, const std::vector<TablePlan>& plans) {
    std::vector<std::vector<std::size_t>> parents(plans.size());
    for (std::size_t i = 0; i < plans.size(); ++i)
        for (const auto& parent : foreign_key_parents(target, plans[i].target.table))
            for (std::size_t j = 0; j < plans.size(); ++j)
                if (j != i && plans[j].target.table == parent) parents[i].push_back(j);
    // Repeatedly the first table (in the given order) whose parents are all
    // placed: stable, and a cycle is left in its given order.
    std::vector<std::size_t> order;
    std::vector<bool> placed(plans.size(), false);
    while (order.size() < plans.size()) {
        std::optional<std::size_t> next;
        for (std::size_t i = 0; i < plans.size() && !next; ++i)
            if (!placed[i] &&
                std::all_of(parents[i].begin(), parents[i].end(), [&](std::size_t j) { return placed[j]; }))
                next = i;
        if (!next) {
            for (std::size_t i = 0; i < plans.size() && !next; ++i)
                if (!placed[i]) next = i;
            log::get("copy")->warn(
                "{}: its foreign keys on the target form a cycle with other tables of this copy: copied in the "
                "given order (create those foreign keys after the copy)",
                plans[*next].name);
        }
        placed[*next] = true;
        order.push_back(*next);
    }
    for (std::size_t i = 0; i < order.size(); ++i)
        if (order[i] != i) {
            std::vector<std::string> names;
            for (std::size_t k : order) names.push_back(plans[k].name);
            log::get("copy")->info("copy order, parents before the tables whose foreign keys reference them: {}",
                                   fmt::join(names, ", "));
            break;
        }
    return order;
}

CopyPlanReport plan_copy(SideConnections conns, const TablePlan& plan, const CopyOptions& options,
                         CheckpointStore* checkpoints, Mode mode) {
    options.validate();
    CopyPlanReport r;
    r.table = plan.name;
    Connection& target = conns.target;
    const Dialect& d = target.dialect();
    r.refusal = copy_refusal(mode);
    r.source_rows = count_rows(conns.source, plan.source.table);
    r.target_rows = count_rows(target, plan.target.table);
    r.first_key = edge_key(conns.source, plan.source, false);
    r.last_key = edge_key(conns.source, plan.source, true);
    const std::string shard = options.shard.str();
    const std::string in_shard = options.shard.whole() ? "" : " (the whole table; shard " + shard + " is a part)";
    switch (options.start) {
    case CopyStart::fresh:
        if (r.target_rows > 0 && r.refusal.empty())
            r.refusal = fmt::format(
                "target table {} is not empty: pass --resume to continue a copy or --truncate to "
                "start over",
                plan.target.table);
        r.start = "the target is empty: copy every row";
        break;
    case CopyStart::truncate:
        if (!options.shard.whole())
            r.start = fmt::format("delete the target's rows of shard {}, then copy them", shard);
        else if (foreign_key_children(target, plan.target.table).empty())
            r.start = fmt::format("truncate the target ({} rows), then copy every row", r.target_rows);
        else  // empty_target()
            r.start = fmt::format(
                "empty the target ({} rows) by DELETE, after the tables whose foreign keys reference it, then copy "
                "every row",
                r.target_rows);
        break;
    case CopyStart::resume: {
        std::optional<CopyProgress> cp;
        if (checkpoints) cp = load_record<CopyProgress>(*checkpoints, plan.name, shard);
        if (!cp || !cp->last_key) {
            r.start = "no checkpoint: copy from the start (the target's rows of this range are deleted first)";
        } else {
            KeyBounds bounds;
            bounds.after = decode_key(*cp->last_key, plan.source.kinds);
            std::vector<Value> params;
            const std::string where = target_where(d, plan.target, {}, bounds, params);
            r.start = fmt::format("resume after key {} ({} rows copied before{}); delete the {} target rows past it",
                                  *cp->last_key, cp->rows, cp->finished ? ", the copy had finished" : "",
                                  count_rows(target, plan.target.table, where, params));
        }
        break;
    }
    }
    r.start += in_shard;
    std::string names;
    for (const auto& ix : secondary_indexes(target, plan.target.table)) names += (names.empty() ? "" : ", ") + ix.name;
    std::string pending;
    if (checkpoints)
        for (const auto& ix : records_of<DeferredIndex>(checkpoints->load_all()))
            if (ix.table == plan.name) pending += (pending.empty() ? "" : ", ") + ix.name;
    if (names.empty())
        r.indexes = "no secondary index on the target";
    else if (options.indexes == IndexBuild::kept || !options.shard.whole())
        r.indexes = fmt::format("kept and maintained during the load{}: {}",
                                options.shard.whole() ? " (--keep-indexes)" : " (--shard)", names);
    else
        r.indexes = "dropped before the load and rebuilt after it: " + names;
    if (!pending.empty()) r.indexes += "; left dropped by an earlier copy, rebuilt at its end: " + pending;
    return r;
}

}  // namespace webook
