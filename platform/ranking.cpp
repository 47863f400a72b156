#include "platform/ranking.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_map>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/migration/keyset.h"
#include "core/migration/prefetch.h"
#include "core/migration/table_plan.h"
#include "core/migration/throttle.h"

namespace webook {
namespace {

constexpr std::int64_t k_published = 2;  // published_articles.status
constexpr double k_micros_per_hour = 3'600'000'000.0;
constexpr std::size_t k_max_top = 10'000;
constexpr std::size_t k_max_batch = 20'000;  // bound parameters per like-count query stay far below 65535
constexpr std::size_t k_insert_rows = 500;   // ranking_items rows per INSERT statement

const log::Logger& logger() {
    static const log::Logger* l = log::get("ranking");
    return *l;
}

// A hand-built plan of published_articles for the keyset scan: the integer
// primary key and the publish time, nothing else crosses the wire for the
// articles that do not make the top N.
SidePlan published_side(std::vector<std::string> columns, std::vector<ValueKind> kinds) {
    SidePlan side;
    side.table = "published_articles";
    side.key = {"id"};
    side.decimal_scales.assign(columns.size(), -1);
    side.binary_collation.assign(columns.size(), false);
    side.columns = std::move(columns);
    side.kinds = std::move(kinds);
    return side;
}

const SidePlan& scan_side() {
    static const SidePlan side = published_side({"id", "ctime"}, {ValueKind::integer, ValueKind::datetime});
    return side;
}

const SidePlan& details_side() {
    static const SidePlan side =
        published_side({"id", "title", "author_id"}, {ValueKind::integer, ValueKind::text, ValueKind::integer});
    return side;
}

// Like counts of one batch of articles, in ONE query; sorted by article id.
//
// Two shapes of that query, chosen per batch:
//   dense batch (its ids span at most twice its size, the usual case: ids
//   grow with time and the window is the newest articles)
//       WHERE biz = 'article' AND biz_id BETWEEN first AND last
//     one short walk of the (biz, biz_id) index; the few rows of articles
//     not in the batch are skipped by the merge. Over the whole run these
//     walks read at most the article rows of the window's id span.
//   sparse batch
//       WHERE biz = 'article' AND biz_id >= first AND biz_id <= last AND biz_id IN (...)
//     the range keeps PostgreSQL on the index (without it, it prices ~2000
//     index probes above a scan of the whole table, and scans it per batch).
// MariaDB turns a long IN list into a join with a derived table, about
// three times slower than the range walk; hence the dense shape.
class LikeCounts {
public:
    explicit LikeCounts(Connection& conn) : m_conn(conn) {}

    const std::vector<std::pair<std::int64_t, std::int64_t>>& fetch(const std::vector<Row>& articles) {
        const Dialect& d = m_conn.dialect();
        const std::int64_t first = articles.front()[0].as_int();  // keyset order: the smallest id
        const std::int64_t last = articles.back()[0].as_int();    // and the largest
        const bool dense = static_cast<std::uint64_t>(last - first) < 2 * articles.size();
        m_params.clear();
        m_params.push_back(Value::text("article"));
        m_params.push_back(Value::integer(first));
        m_params.push_back(Value::integer(last));
        const std::string range = fmt::format(
            "SELECT biz_id, like_cnt FROM {} WHERE biz = {} AND biz_id >= {} AND "
            "biz_id <= {}",
            d.quote("interactives"), d.placeholder(1), d.placeholder(2), d.placeholder(3));
        std::string sql;
        if (dense) {
            sql = range;
        } else {
            sql = range + " AND biz_id IN " + d.placeholders(4, static_cast<int>(articles.size()));
            for (const auto& row : articles) m_params.push_back(row[0]);
        }
        m_counts.clear();
        for (const auto& row : m_conn.query(sql, m_params))
            m_counts.emplace_back(row.at(0).as_int(), row.at(1).is_null() ? 0 : row.at(1).as_int());
        std::sort(m_counts.begin(), m_counts.end());
        return m_counts;
    }

private:
    Connection& m_conn;
    std::vector<Value> m_params;
    std::vector<std::pair<std::int64_t, std::int64_t>> m_counts;
};

// Titles and authors of the winners, by key lookup.
void fill_details(Connection& conn, std::vector<RankedArticle>& items) {
    if (items.empty()) return;
    std::vector<Row> keys;
    for (const auto& item : items) keys.push_back({Value::integer(item.article_id)});
    BoundSql q = key_lookup_query(conn.dialect(), details_side(), keys);
    std::unordered_map<std::int64_t, std::pair<std::string, std::int64_t>> details;
    for (const auto& row : conn.query(q.sql, q.params))
        details[row.at(0).as_int()] = {std::string(row.at(1).as_string()), row.at(2).as_int()};
    for (auto& item : items) {
        auto it = details.find(item.article_id);
        // Deleted since the scan: keep its place with what we know.
        if (it == details.end()) continue;
        item.title = std::move(it->second.first);
        item.author_id = it->second.second;
    }
}

std::optional<std::int64_t> optional_int(const std::optional<Row>& row) {
    if (!row || row->empty() || row->at(0).is_null()) return std::nullopt;
    return row->at(0).as_int();
}

Error lost_lease(JobLeases& leases, const Lease& lease) {
    std::string who = "another host";
    try {
        if (auto state = leases.get(lease.name); state && state->owner) who = *state->owner;
    } catch (const Error&) {
        // The message below is what matters.
    }
    return Error(Code::server,
                 fmt::format("lost the {} lease to {} part-way (it expired before it was renewed): this run "
                             "published nothing; raise --lease if batches are slow",
                             lease.name, who),
                 Temporary::yes);
}

}  // namespace

void RankOptions::validate() const {
    if (!(gravity > 0) || !std::isfinite(gravity))
        throw Error(Code::usage, fmt::format("--gravity must be a positive number, not {}", gravity));
    if (window.count() <= 0) throw Error(Code::usage, "--window must be positive, e.g. 7d or 36h");
    if (top < 1 || top > k_max_top)
        throw Error(Code::usage, fmt::format("--top must be between 1 and {}, not {}", k_max_top, top));
    if (batch_size < 1 || batch_size > k_max_batch)
        throw Error(Code::usage, fmt::format("--batch-size must be between 1 and {}, not {}", k_max_batch, batch_size));
}

double hot_score(std::int64_t likes, double hours_since_publish, double gravity) {
    return static_cast<double>(likes - 1) / std::pow(hours_since_publish + 2.0, gravity);
}

bool ranks_above(const RankedArticle& a, const RankedArticle& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.article_id < b.article_id;
}

TopN::TopN(std::size_t capacity) : m_capacity(capacity) {
    if (capacity == 0) throw Error(Code::internal, "a top-N of zero");
    m_heap.reserve(capacity);
}

void TopN::offer(RankedArticle candidate) {
    // With ranks_above as "less", the heap's front is the worst kept article.
    if (m_heap.size() < m_capacity) {
        m_heap.push_back(std::move(candidate));
        std::push_heap(m_heap.begin(), m_heap.end(), ranks_above);
    } else if (ranks_above(candidate, m_heap.front())) {
        std::pop_heap(m_heap.begin(), m_heap.end(), ranks_above);
        m_heap.back() = std::move(candidate);
        std::push_heap(m_heap.begin(), m_heap.end(), ranks_above);
    }
}

std::vector<RankedArticle> TopN::take_sorted() {
    std::sort_heap(m_heap.begin(), m_heap.end(), ranks_above);
    std::vector<RankedArticle> out = std::move(m_heap);
    m_heap.clear();
    for (std::size_t i = 0; i < out.size(); ++i) out[i].position = static_cast<int>(i + 1);
    return out;
}

std::vector<RankedArticle> compute_hot_ranking(Connection& conn, const RankOptions& options, const RankHooks& hooks,
                                               RankStats* stats) {
    options.validate();
    const auto started = std::chrono::steady_clock::now();
    const Dialect& d = conn.dialect();
    const std::int64_t now = options.now_micros ? *options.now_micros : database_now_micros(conn);
    const std::int64_t from = now - options.window.count();

    // Published, and published within [now - window, now].
    std::string filter = fmt::format("{0} = {1} AND {2} >= {3} AND {2} <= {4}", d.quote("status"), d.placeholder(1),
                                     d.quote("ctime"), d.placeholder(2), d.placeholder(3));
    // Articles on their own connection and thread when one is offered, so
    // the next batch streams while this connection fetches like counts.
    std::unique_ptr<Connection> scan_conn;
    if (options.scan_connection) scan_conn = options.scan_connection();
    KeysetReader reader(scan_conn ? *scan_conn : conn, scan_side(), {}, options.batch_size, std::move(filter),
                        {Value::integer(k_published), Value::datetime_micros(from), Value::datetime_micros(now)});
    std::unique_ptr<Prefetcher> prefetch;
    if (scan_conn) prefetch = std::make_unique<Prefetcher>(reader);
    BatchSource& articles = prefetch ? static_cast<BatchSource&>(*prefetch) : reader;
    LikeCounts likes(conn);
    TopN top(options.top);
    RankStats local;
    std::vector<Row> batch;
    while (with_context("ranking published_articles", [&] { return articles.next(batch); })) {
        const auto& counts = with_context("reading like counts from interactives",
                                          [&]() -> decltype(auto) { return likes.fetch(batch); });
        // Both sorted by id: a merge finds each article's count.
        auto count = counts.begin();
        for (const auto& row : batch) {
            RankedArticle a;
            a.article_id = row[0].as_int();
            a.ctime_micros = row[1].micros();
            while (count != counts.end() && count->first < a.article_id) ++count;
            a.like_cnt = count != counts.end() && count->first == a.article_id ? count->second : 0;
            const double hours = static_cast<double>(now - a.ctime_micros) / k_micros_per_hour;
            a.score = hot_score(a.like_cnt, hours, options.gravity);
            top.offer(std::move(a));
        }
        local.articles += batch.size();
        ++local.batches;
        check_interrupted();  // a safe point: nothing written yet
        if (hooks.between_batches) hooks.between_batches();
    }
    std::vector<RankedArticle> items = top.take_sorted();
    with_context("reading the ranked articles' titles", [&] { fill_details(conn, items); });
    local.now_micros = now;
    local.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    logger().debug("scored {} articles in {} batches in {:.3f}s", local.articles, local.batches, local.seconds);
    if (stats) *stats = local;
    return items;
}

Ranking publish_hot_ranking(Connection& conn, std::vector<RankedArticle> items, std::int64_t computed_at_micros,
                            const RankHooks& hooks) {
    // Portable statements: through a double-write connection the ranking is
    // published on both sides, in the mode's order.
    const std::vector<std::string> item_columns = {"version",   "position", "article_id", "title",
                                                   "author_id", "like_cnt", "score",      "ctime"};
    Ranking ranking;
    ranking.computed_at_micros = computed_at_micros;
    std::optional<std::int64_t> replaced;
    with_context("publishing the hot ranking", [&] {
        Transaction tx(conn);
        // The pointer row stays locked until commit: one publisher at a time.
        // It is locked before the fence (which locks the job row), so a
        // publisher waiting here holds no lock that a host taking the job
        // would wait for.
        const Value name[] = {Value::text(k_hot_ranking)};
        replaced = optional_int(conn.query_one(
            PortableSql{[](const Dialect& d) {
                            return fmt::format("SELECT version FROM {} WHERE name = {}{}", d.quote("ranking_current"),
                                               d.placeholder(1), d.for_update());
                        },
                        {}},
            name));
        if (hooks.before_publish) hooks.before_publish(conn);
        const auto highest = optional_int(conn.query_one(PortableSql{
            [](const Dialect& d) { return fmt::format("SELECT MAX(version) FROM {}", d.quote("ranking_items")); },
            {}}));
        ranking.version = std::max(replaced.value_or(0), highest.value_or(0)) + 1;

        // 1. The new version's rows: invisible to readers until the pointer moves.
        for (std::size_t first = 0; first < items.size(); first += k_insert_rows) {
            const std::size_t n = std::min(k_insert_rows, items.size() - first);
            std::vector<Value> params;
            params.reserve(n * item_columns.size());
            for (std::size_t i = 0; i < n; ++i) {
                const RankedArticle& a = items[first + i];
                for (auto&& v :
                     {Value::integer(ranking.version), Value::integer(a.position), Value::integer(a.article_id),
                      Value::text(a.title), Value::integer(a.author_id), Value::integer(a.like_cnt),
                      Value::real(a.score), Value::datetime_micros(a.ctime_micros)})
                    params.push_back(v);
            }
            const PortableSql insert{
                [&item_columns, n](const Dialect& d) {
                    std::string sql = fmt::format("INSERT INTO {} ({}) VALUES ", d.quote("ranking_items"),
                                                  d.quote_list(item_columns));
                    const int width = static_cast<int>(item_columns.size());
                    for (std::size_t i = 0; i < n; ++i)
                        sql += (i ? ", " : "") + d.placeholders(static_cast<int>(i) * width + 1, width);
                    return sql;
                },
                "ranking_items"};
            conn.execute(insert, params);
        }
        // 2. One statement makes it current.
        const Value pointer[] = {Value::text(k_hot_ranking), Value::integer(ranking.version),
                                 Value::datetime_micros(computed_at_micros)};
        conn.execute(PortableSql{[](const Dialect& d) {
                                     return d.upsert("ranking_current", {"name", "version", "computed_at"}, {"name"});
                                 },
                                 "ranking_current"},
                     pointer);
        tx.commit();
    });
    // 3. Versions older than the one just replaced go. The replaced one stays
    // for readers that read the old pointer an instant before the flip; it
    // goes next time. A failure here loses nothing: the next run deletes them.
    if (replaced) {
        try {
            const Value older[] = {Value::integer(*replaced)};
            conn.execute(PortableSql{[](const Dialect& d) {
                                         return fmt::format("DELETE FROM {} WHERE version < {}",
                                                            d.quote("ranking_items"), d.placeholder(1));
                                     },
                                     "ranking_items"},
                         older);
        } catch (const Error& e) {
            logger().warn("could not delete old ranking versions (the next run will): {}", e.what());
        }
    }
    ranking.items = std::move(items);
    logger().info("hot ranking version {} published: {} articles", ranking.version, ranking.items.size());
    return ranking;
}

RecomputeResult recompute_hot_ranking(Connection& conn, const RankOptions& options, const RankHooks& hooks) {
    RecomputeResult r;
    auto items = compute_hot_ranking(conn, options, hooks, &r.stats);
    r.ranking = publish_hot_ranking(conn, std::move(items), r.stats.now_micros, hooks);
    return r;
}

std::optional<Ranking> current_hot_ranking(Connection& conn, std::size_t limit) {
    const Dialect& d = conn.dialect();
    // Pointer and rows in one statement: one snapshot, so never half a ranking.
    const std::string sql = fmt::format(
        "SELECT c.version, c.computed_at, i.position, i.article_id, i.title, i.author_id, i.like_cnt, i.score, "
        "i.ctime FROM {} c LEFT JOIN {} i ON i.version = c.version WHERE c.name = {} ORDER BY i.position{}",
        d.quote("ranking_current"), d.quote("ranking_items"), d.placeholder(1),
        limit > 0 ? fmt::format(" LIMIT {}", limit) : std::string());
    const Value name[] = {Value::text(k_hot_ranking)};
    auto rows = with_context("reading the hot ranking", [&] { return conn.query(sql, name); });
    if (rows.empty()) return std::nullopt;
    Ranking r;
    r.version = rows.front().at(0).as_int();
    r.computed_at_micros = rows.front().at(1).micros();
    for (const auto& row : rows) {
        if (row.at(2).is_null()) continue;  // a current ranking with no articles
        RankedArticle a;
        a.position = static_cast<int>(row.at(2).as_int());
        a.article_id = row.at(3).as_int();
        a.title = std::string(row.at(4).as_string());
        a.author_id = row.at(5).as_int();
        a.like_cnt = row.at(6).as_int();
        a.score = row.at(7).as_double();
        a.ctime_micros = row.at(8).micros();
        r.items.push_back(std::move(a));
    }
    return r;
}

void RankJobOptions::validate() const {
    rank.validate();
    if (lease < std::chrono::seconds(1)) throw Error(Code::usage, "--lease must be at least 1s");
}

RankJobResult run_hot_ranking_job(Connection& conn, const RankJobOptions& options) {
    options.validate();
    RankJobResult result;
    result.owner = options.owner.empty() ? default_lease_owner() : options.owner;

    // 1. Take the job, or learn who has it.
    JobLeases leases(conn, options.clock);
    AcquireResult taken = leases.try_acquire(k_rank_hot_job, result.owner, options.lease);
    if (!taken.acquired()) {
        result.holder = taken.holder;
        result.holder_until_micros = taken.holder_until_micros;
        logger().info("{} is held by {} until {}: not computing", k_rank_hot_job, taken.holder,
                      format_datetime(taken.holder_until_micros));
        return result;
    }
    Lease lease = *taken.lease;
    LeaseGuard guard(leases, lease);  // released on every way out

    // 2. Compute, renewing every third of the lease so it never lapses while we work.
    Clock& clock = options.clock ? *options.clock : Clock::real();
    auto last_renewal = clock.now();
    const auto renew_every = std::chrono::duration_cast<std::chrono::steady_clock::duration>(options.lease / 3);
    RankHooks hooks;
    hooks.between_batches = [&] {
        if (clock.now() - last_renewal < renew_every) return;
        if (!leases.renew(lease)) throw lost_lease(leases, lease);
        last_renewal = clock.now();
        ++result.renewals;
    };
    // 3. Publish only while still holding the job (the fence).
    hooks.before_publish = [&](Connection&) {
        if (!leases.lock_if_held(lease)) throw lost_lease(leases, lease);
    };
    RecomputeResult computed;
    // Computed from the read side when one is given (the authoritative side of
    // a migration), published through `conn`.
    std::unique_ptr<Connection> reader;
    if (options.read_connection) reader = options.read_connection();
    auto items = compute_hot_ranking(reader ? *reader : conn, options.rank, hooks, &computed.stats);
    computed.ranking = publish_hot_ranking(conn, std::move(items), computed.stats.now_micros, hooks);

    // 4. Free the job for the next cron run, recording when it last ran.
    if (!guard.release_completed())
        logger().warn("{}: the lease was taken over right after publishing", k_rank_hot_job);
    result.computed = std::move(computed);
    return result;
}

}  // namespace webook
