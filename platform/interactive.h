// Readers' interactions with published articles: reads, likes, collects.
//
// Counters live in `interactives` (unique on biz, biz_id) and only move by
// atomic statements: an upsert that inserts the row or adds to the stored
// value (Dialect::upsert_add), or an UPDATE that subtracts in place. Never
// read-then-write, so concurrent writers on many hosts cannot lose counts.
//
// Likes and collects are per-user records with a soft delete (status 1
// active, 0 cancelled) in `user_like_bizs` / `user_collection_bizs`. A like
// is idempotent per user: the counter moves only when the record's state
// actually changed, which the affected rows of the writes decide, inside one
// transaction with the counter update:
//   INSERT-ignore the active record         1 row  -> a new like: +1
//   else UPDATE ... SET status 1 WHERE status 0  1 row  -> liked again: +1
//   else                                     it was already liked: no change
// (Insert first: on MySQL an UPDATE that finds no row takes a gap lock that
// concurrent first likes of other users would deadlock on.) Unlike is one
// UPDATE ... SET status 0 WHERE status 1; no record means nothing to undo.
//
// Lock order, the same in every operation: the article's row in
// published_articles (SELECT ... FOR UPDATE, which also checks it is
// published), then the user's record, then the counters row. Interactions
// with one article so run one after another and cannot deadlock -- not even
// one user's concurrent likes, which would otherwise both hold a shared lock
// on the same record and wait to upgrade it.
//
// Reading, liking or collecting an article that does not exist or is not
// published is Error(Code::usage) "article N does not exist or is not
// published", and nothing is written.
//
// Every statement is a PortableSql with client-made ids and times, so this
// works over a plain connection and through the double-write connection
// (whose first side's affected rows decide; the second side runs the same
// statements). Every write runs in a transaction, a read's one upsert too:
// the first side's row locks, held until the second side has run the same
// statement, make concurrent writers reach both sides in the same order -- so
// an article's interactives row, created by whichever writer comes first,
// has the same generated id on both. Deadlocks and lock wait timeouts are
// retried.
//
// Not thread-safe (it uses one Connection): one service per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "platform/ids.h"

namespace webook {

class Connection;

// The `biz` of articles in the interaction tables.
inline constexpr std::string_view k_article_biz = "article";

struct Counters {
    std::int64_t read_cnt = 0;
    std::int64_t like_cnt = 0;
    std::int64_t collect_cnt = 0;
};

// What like/unlike/collect/uncollect did.
struct ToggleResult {
    bool changed = false;  // the user's record changed state and the counter moved
    bool moved = false;    // collect only: an active collect moved to another collection
    Counters counters;     // after the change, as this transaction saw them
};

struct Interaction {
    std::int64_t article_id = 0;
    Counters counters;          // zeros when nobody interacted yet
    std::optional<bool> liked;  // set when asked for a user
    std::optional<bool> collected;
    std::optional<std::int64_t> collection_id;  // the user's collection holding it, when collected
};

class InteractiveService {
public:
    explicit InteractiveService(Connection& conn, IdGenerator& ids = IdGenerator::global(),
                                Clock& clock = Clock::real());

    // read_cnt + 1. Returns the counters after it.
    Counters read(std::int64_t article_id);
    ToggleResult like(std::int64_t uid, std::int64_t article_id);
    ToggleResult unlike(std::int64_t uid, std::int64_t article_id);
    // Collects into collection `cid` (>= 0); collecting again into another
    // collection moves it (moved, not changed: the count stays).
    ToggleResult collect(std::int64_t uid, std::int64_t article_id, std::int64_t cid);
    ToggleResult uncollect(std::int64_t uid, std::int64_t article_id);

    // The counters, and the user's like and collect when uid is given.
    // Error(Code::usage) when the article does not exist (published or not).
    Interaction get(std::int64_t article_id, std::optional<std::int64_t> uid = std::nullopt);

private:
    Connection& m_conn;
    IdGenerator& m_ids;
    Clock& m_clock;
};

}  // namespace webook
