// The hot ranking of published articles (README.md "ops rank and ops jobs";
// the original design notes' 榜单模型).
//
//   score = (likes - 1) / (hours_since_publish + 2) ^ gravity
//
// Compute: published articles (status 2) whose publish time (ctime) lies in
// [now - window, now] are streamed in id order by keyset pagination (a
// KeysetReader over published_articles, never OFFSET), only their id and
// ctime. For each batch the like counts come from ONE query on interactives
// (biz = 'article', biz_id in the batch's id range, plus an IN list of the
// batch's ids when the range is sparse); an article nobody interacted with
// has 0 likes. With RankOptions::scan_connection the next batch of
// articles is read on a second connection while the like counts are
// fetched. Every article is offered to a bounded min-heap of the best N
// (TopN), so memory is O(N + batch) whatever the table size. Titles and
// authors are fetched for the N winners only. Ties are broken by id (the
// smaller id ranks higher), so the ranking is deterministic. Articles
// published after `now` are outside the window (their age would be
// negative).
//
// Publish (the atomic replace). Rankings are stored as versions:
// ranking_items (version, position) holds the rows of each version and
// ranking_current names the live version per ranking ('hot'). One
// transaction inserts the new version's rows and then flips the pointer
// with one upsert of ranking_current; afterwards the versions older than
// the one just replaced are deleted (the replaced one is kept, so a reader
// that read the old pointer an instant before the flip still finds its
// rows). A reader (current_hot_ranking) reads the pointer and the rows in
// one statement -- one snapshot on both engines -- so it sees the old
// complete ranking or the new complete ranking, never a mix or a half.
// Version = max(current, any stored version) + 1.
//
// Running it as a job: run_hot_ranking_job() takes the `rank-hot` lease
// (platform/job_lease.h) so only one host computes when cron fires on many,
// renews it between batches (every third of its duration), checks inside
// the publishing transaction that the lease is still held (a host that
// stalled past its lease and was taken over cannot overwrite the newer
// ranking), and releases it when done -- also on errors.
//
// Not thread-safe: each call uses the one Connection it is given.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/db/db.h"
#include "platform/job_lease.h"

namespace webook {

class Clock;

// The name of the hot ranking in ranking_current.
inline constexpr const char* k_hot_ranking = "hot";

struct RankOptions {
    double gravity = 1.5;                                           // default: 1.5; > 0
    std::chrono::microseconds window = std::chrono::hours(24 * 7);  // default: 7 days; > 0
    std::size_t top = 100;                                          // default: 100; 1..10000
    std::size_t batch_size = 2000;  // default: 2000 articles per batch and like-count query; 1..20000
    // The "now" of hours_since_publish and of the window, UTC micros.
    // default: the database's clock when the computation starts.
    std::optional<std::int64_t> now_micros;
    // default: none -- articles and like counts are read in turn on the one
    // connection. With a factory, a second connection streams the next
    // batch of articles (core/migration/prefetch.h) while the first fetches the like
    // counts of the current one: the two servers' halves of the work overlap.
    ConnectionFactory scan_connection;

    void validate() const;  // throws Error(Code::usage) naming the flag
};

// The hot score of an article with `likes` published `hours` ago.
double hot_score(std::int64_t likes, double hours_since_publish, double gravity);

struct RankedArticle {
    int position = 0;  // 1-based
    std::int64_t article_id = 0;
    std::string title;
    std::int64_t author_id = 0;
    std::int64_t like_cnt = 0;
    double score = 0;
    std::int64_t ctime_micros = 0;  // publish time
};

// "a ranks above b": higher score, then smaller id.
bool ranks_above(const RankedArticle& a, const RankedArticle& b);

// The best `capacity` articles offered so far: a bounded min-heap whose top
// is the worst kept article, so each offer is O(log capacity).
class TopN {
public:
    explicit TopN(std::size_t capacity);
    void offer(RankedArticle candidate);
    std::size_t size() const { return m_heap.size(); }
    // The kept articles best first, positions set 1..n; empties the heap.
    std::vector<RankedArticle> take_sorted();

private:
    std::size_t m_capacity;
    std::vector<RankedArticle> m_heap;
};

struct Ranking {
    std::int64_t version = 0;
    std::int64_t computed_at_micros = 0;
    std::vector<RankedArticle> items;  // best first
};

struct RankHooks {
    // After each batch, e.g. renew a lease or check for an interrupt.
    std::function<void()> between_batches;
    // Inside the publishing transaction, once the ranking pointer is locked
    // and before anything is written: throw to abort the publish (the
    // transaction rolls back).
    std::function<void(Connection&)> before_publish;
};

struct RankStats {
    std::uint64_t articles = 0;  // published articles in the window
    std::uint64_t batches = 0;
    std::int64_t now_micros = 0;  // the "now" the scores were computed at
    double seconds = 0;
};

// Computes the top N without writing anything.
std::vector<RankedArticle> compute_hot_ranking(Connection& conn, const RankOptions& options,
                                               const RankHooks& hooks = {}, RankStats* stats = nullptr);

// Stores `items` as the new current hot ranking (see "Publish" above).
// Returns the stored ranking with its version.
Ranking publish_hot_ranking(Connection& conn, std::vector<RankedArticle> items, std::int64_t computed_at_micros,
                            const RankHooks& hooks = {});

struct RecomputeResult {
    Ranking ranking;
    RankStats stats;
};

// compute_hot_ranking + publish_hot_ranking, without a lease.
RecomputeResult recompute_hot_ranking(Connection& conn, const RankOptions& options, const RankHooks& hooks = {});

// The current hot ranking's first `limit` rows, read in one statement;
// empty when none was ever published.
std::optional<Ranking> current_hot_ranking(Connection& conn, std::size_t limit);

struct RankJobOptions {
    RankOptions rank;
    std::string owner;                                           // default: default_lease_owner()
    std::chrono::microseconds lease = std::chrono::seconds(60);  // default: 60s, >= 1s; renewed every third
    // Default (null): renewals timed on Clock::real(), lease times from the
    // database's clock. A test's clock supplies both.
    Clock* clock = nullptr;
    // Where the ranking is computed from: default: none, the job's own
    // connection. During a migration the job's connection double-writes (the
    // lease and the ranking reach both sides) and this reads the
    // authoritative side.
    ConnectionFactory read_connection;

    void validate() const;  // throws Error(Code::usage)
};

struct RankJobResult {
    std::optional<RecomputeResult> computed;  // set when this process held the lease and ran
    std::string owner;                        // this process's owner name
    // When another host held the job: who and until when.
    std::string holder;
    std::int64_t holder_until_micros = 0;
    int renewals = 0;

    bool ran() const { return computed.has_value(); }
};

// The `rank-hot` job: take the lease or report its holder; recompute and
// publish while renewing; release. Throws Error(Code::server, temporary)
// "lost the lease" when the lease was taken over part-way (nothing was
// published by this run).
RankJobResult run_hot_ranking_job(Connection& conn, const RankJobOptions& options);

}  // namespace webook
