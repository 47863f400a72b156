#include "platform/interactive.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "platform/article.h"
#include "platform/platform_tx.h"

namespace webook {
namespace {

using platform_detail::in_transaction;

constexpr const char* k_interactives = "interactives";
constexpr const char* k_likes = "user_like_bizs";
constexpr const char* k_collects = "user_collection_bizs";
constexpr int k_record_attempts = 3;

enum class Counter { read, like, collect };

const char* column_of(Counter c) {
    switch (c) {
    case Counter::read: return "read_cnt";
    case Counter::like: return "like_cnt";
    case Counter::collect: return "collect_cnt";
    }
    return "read_cnt";
}

Value i64(std::int64_t v) {
    return Value::integer(v);
}
Value at(std::int64_t micros) {
    return Value::datetime_micros(micros);
}
Value article_biz() {
    return Value::text(std::string(k_article_biz));
}

std::string interactives_what(std::int64_t article_id) {
    return fmt::format("{} {}/{}", k_interactives, k_article_biz, article_id);
}

std::string record_what(const char* table, std::int64_t uid, std::int64_t article_id) {
    return fmt::format("{} uid={} {}/{}", table, uid, k_article_biz, article_id);
}

// "uid = ? AND biz = ? AND biz_id = ?" with placeholders from `first`.
std::string record_key(const Dialect& d, int first) {
    return fmt::format("{} = {} AND {} = {} AND {} = {}", d.quote("uid"), d.placeholder(first), d.quote("biz"),
                       d.placeholder(first + 1), d.quote("biz_id"), d.placeholder(first + 2));
}

void check_ids(std::int64_t uid, std::int64_t article_id) {
    if (uid <= 0) throw Error(Code::usage, fmt::format("user id must be positive, not {}", uid));
    if (article_id <= 0) throw Error(Code::usage, fmt::format("article id must be positive, not {}", article_id));
}

enum class Lock { none, exclusive };

// The readers' copy's status; with Lock::exclusive the row stays locked until
// the transaction ends.
std::optional<ArticleStatus> published_status(Connection& conn, std::int64_t article_id, Lock lock) {
    PortableSql sql{[lock](const Dialect& d) {
                        return fmt::format("SELECT {} FROM {} WHERE {} = {}{}", d.quote("status"),
                                           d.quote("published_articles"), d.quote("id"), d.placeholder(1),
                                           lock == Lock::exclusive ? d.for_update() : "");
                    },
                    fmt::format("published_articles id={}", article_id)};
    auto row = conn.query_one(sql, std::vector<Value>{i64(article_id)});
    if (!row) return std::nullopt;
    return article_status((*row)[0].as_int());
}

// The first step of every interaction's transaction: lock the article's
// readers' copy (the lock order in interactive.h). `require` says whether the
// article must be published (likes, collects, reads) or not (taking one back).
enum class Require { published, nothing };

void lock_article(Connection& conn, std::int64_t article_id, Require require) {
    auto status = published_status(conn, article_id, Lock::exclusive);
    if (require == Require::published && status != ArticleStatus::published)
        throw Error(Code::usage, fmt::format("article {} does not exist or is not published", article_id));
}

// counter + 1, creating the article's row on its first interaction.
void add_one(Connection& conn, IdGenerator& ids, std::int64_t article_id, Counter counter, std::int64_t now) {
    static const std::vector<std::string> columns{"id",       "biz",         "biz_id", "read_cnt",
                                                  "like_cnt", "collect_cnt", "ctime",  "utime"};
    PortableSql sql{
        [counter](const Dialect& d) {
            return d.upsert_add(k_interactives, columns, {"biz", "biz_id"}, {{column_of(counter), "?"}}, {"utime"});
        },
        interactives_what(article_id)};
    std::vector<Value> params{i64(ids.next()),
                              article_biz(),
                              i64(article_id),
                              i64(counter == Counter::read ? 1 : 0),
                              i64(counter == Counter::like ? 1 : 0),
                              i64(counter == Counter::collect ? 1 : 0),
                              at(now),
                              at(now),
                              i64(1)};
    conn.execute(sql, params);
}

// counter - 1 in place; never below zero (a count that was already short
// stays at zero rather than going negative).
void subtract_one(Connection& conn, std::int64_t article_id, Counter counter, std::int64_t now) {
    PortableSql sql{[counter](const Dialect& d) {
                        const std::string c = d.quote(column_of(counter));
                        return fmt::format("UPDATE {} SET {} = GREATEST({} - 1, 0), {} = {} WHERE {} = {} AND {} = {}",
                                           d.quote(k_interactives), c, c, d.quote("utime"), d.placeholder(1),
                                           d.quote("biz"), d.placeholder(2), d.quote("biz_id"), d.placeholder(3));
                    },
                    interactives_what(article_id)};
    conn.execute(sql, std::vector<Value>{at(now), article_biz(), i64(article_id)});
}

Counters counters_of(Connection& conn, std::int64_t article_id) {
    PortableSql sql{[](const Dialect& d) {
                        return fmt::format("SELECT {}, {}, {} FROM {} WHERE {} = {} AND {} = {}", d.quote("read_cnt"),
                                           d.quote("like_cnt"), d.quote("collect_cnt"), d.quote(k_interactives),
                                           d.quote("biz"), d.placeholder(1), d.quote("biz_id"), d.placeholder(2));
                    },
                    interactives_what(article_id)};
    Counters c;
    if (auto row = conn.query_one(sql, std::vector<Value>{article_biz(), i64(article_id)})) {
        c.read_cnt = (*row)[0].as_int();
        c.like_cnt = (*row)[1].as_int();
        c.collect_cnt = (*row)[2].as_int();
    }
    return c;
}

// A user's like or collect record of one article.
class UserRecord {
public:
    UserRecord(Connection& conn, const char* table, std::int64_t uid, std::int64_t article_id)
        : m_conn(conn),
          m_table(table),
          m_uid(uid),
          m_article_id(article_id),
          m_what(record_what(table, uid, article_id)) {}

    // Makes the record active (in collection `cid` for collects). Returns
    // {changed, moved}.
    std::pair<bool, bool> activate(IdGenerator& ids, std::int64_t now, std::optional<std::int64_t> cid) {
        for (int attempt = 0; attempt < k_record_attempts; ++attempt) {
            if (insert_active(ids.next(), now, cid)) return {true, false};
            if (reactivate(now, cid)) return {true, false};
            if (cid && move(now, *cid)) return {false, true};
            // Already active -- unless the insert was skipped for another
            // reason (an id taken by another process, or a record cancelled
            // between our statements): look, under a lock, and go again.
            auto status = locked_status();
            if (status == 1) return {false, false};
        }
        throw Error(Code::internal,
                    fmt::format("could not make {} active after {} attempts", m_what, k_record_attempts));
    }

    // Cancels an active record. Returns whether one was active.
    bool deactivate(std::int64_t now) {
        PortableSql sql{[this](const Dialect& d) {
                            return fmt::format("UPDATE {} SET {} = 0, {} = {} WHERE {} AND {} = 1", d.quote(m_table),
                                               d.quote("status"), d.quote("utime"), d.placeholder(1), record_key(d, 2),
                                               d.quote("status"));
                        },
                        m_what};
        return m_conn.execute(sql, std::vector<Value>{at(now), i64(m_uid), article_biz(), i64(m_article_id)})
                   .affected_rows > 0;
    }

    // {status, cid} of the record, if any.
    std::optional<Row> current(bool with_cid) {
        PortableSql sql{[this, with_cid](const Dialect& d) {
                            return fmt::format("SELECT {}{} FROM {} WHERE {}", d.quote("status"),
                                               with_cid ? ", " + d.quote("cid") : "", d.quote(m_table),
                                               record_key(d, 1));
                        },
                        m_what};
        return m_conn.query_one(sql, key_params());
    }

private:
    std::vector<Value> key_params() const { return {i64(m_uid), article_biz(), i64(m_article_id)}; }

    bool insert_active(std::int64_t id, std::int64_t now, std::optional<std::int64_t> cid) {
        std::vector<std::string> columns{"id", "uid"};
        std::vector<Value> params{i64(id), i64(m_uid)};
        if (cid) {
            columns.push_back("cid");
            params.push_back(i64(*cid));
        }
        for (const char* c : {"biz", "biz_id", "status", "ctime", "utime"}) columns.push_back(c);
        for (Value v : {article_biz(), i64(m_article_id), i64(1), at(now), at(now)}) params.push_back(std::move(v));
        PortableSql sql{[this, columns](const Dialect& d) { return d.insert_ignore(m_table, columns); }, m_what};
        return m_conn.execute(sql, params).affected_rows > 0;
    }

    bool reactivate(std::int64_t now, std::optional<std::int64_t> cid) {
        PortableSql sql{[this, with_cid = cid.has_value()](const Dialect& d) {
                            int n = 0;
                            std::string sets =
                                fmt::format("{} = 1, {} = {}", d.quote("status"), d.quote("utime"), d.placeholder(++n));
                            if (with_cid) sets += fmt::format(", {} = {}", d.quote("cid"), d.placeholder(++n));
                            return fmt::format("UPDATE {} SET {} WHERE {} AND {} = 0", d.quote(m_table), sets,
                                               record_key(d, n + 1), d.quote("status"));
                        },
                        m_what};
        std::vector<Value> params{at(now)};
        if (cid) params.push_back(i64(*cid));
        for (Value v : key_params()) params.push_back(std::move(v));
        return m_conn.execute(sql, params).affected_rows > 0;
    }

    bool move(std::int64_t now, std::int64_t cid) {
        PortableSql sql{[this](const Dialect& d) {
                            return fmt::format("UPDATE {} SET {} = {}, {} = {} WHERE {} AND {} = 1 AND {} <> {}",
                                               d.quote(m_table), d.quote("cid"), d.placeholder(1), d.quote("utime"),
                                               d.placeholder(2), record_key(d, 3), d.quote("status"), d.quote("cid"),
                                               d.placeholder(6));
                        },
                        m_what};
        return m_conn
                   .execute(sql, std::vector<Value>{i64(cid), at(now), i64(m_uid), article_biz(), i64(m_article_id),
                                                    i64(cid)})
                   .affected_rows > 0;
    }

    // The status under a shared lock: the latest committed, and it stays so
    // until this transaction ends.
    std::optional<std::int64_t> locked_status() {
        PortableSql sql{[this](const Dialect& d) {
                            return fmt::format("SELECT {} FROM {} WHERE {}{}", d.quote("status"), d.quote(m_table),
                                               record_key(d, 1), d.for_share());
                        },
                        m_what};
        auto row = m_conn.query_one(sql, key_params());
        if (!row) return std::nullopt;
        return (*row)[0].as_int();
    }

    Connection& m_conn;
    const char* m_table;
    std::int64_t m_uid;
    std::int64_t m_article_id;
    std::string m_what;
};

}  // namespace

InteractiveService::InteractiveService(Connection& conn, IdGenerator& ids, Clock& clock)
    : m_conn(conn), m_ids(ids), m_clock(clock) {}

Counters InteractiveService::read(std::int64_t article_id) {
    if (article_id <= 0) throw Error(Code::usage, fmt::format("article id must be positive, not {}", article_id));
    const std::int64_t now = m_clock.wall_micros();
    // A transaction even for one counter: through the double-write connection
    // the first side's row lock is then held until the second side ran the
    // same upsert, so the article's first interactives row gets the same id on
    // both sides whichever writer creates it (autocommitted upserts of two
    // writers could reach the second side in the other order).
    return in_transaction(m_conn, [&] {
        lock_article(m_conn, article_id, Require::published);
        add_one(m_conn, m_ids, article_id, Counter::read, now);
        return counters_of(m_conn, article_id);
    });
}

ToggleResult InteractiveService::like(std::int64_t uid, std::int64_t article_id) {
    check_ids(uid, article_id);
    const std::int64_t now = m_clock.wall_micros();
    return in_transaction(m_conn, [&] {
        lock_article(m_conn, article_id, Require::published);
        ToggleResult r;
        r.changed = UserRecord(m_conn, k_likes, uid, article_id).activate(m_ids, now, std::nullopt).first;
        if (r.changed) add_one(m_conn, m_ids, article_id, Counter::like, now);
        r.counters = counters_of(m_conn, article_id);
        return r;
    });
}

ToggleResult InteractiveService::unlike(std::int64_t uid, std::int64_t article_id) {
    check_ids(uid, article_id);
    const std::int64_t now = m_clock.wall_micros();
    return in_transaction(m_conn, [&] {
        lock_article(m_conn, article_id, Require::nothing);
        ToggleResult r;
        r.changed = UserRecord(m_conn, k_likes, uid, article_id).deactivate(now);
        if (r.changed) subtract_one(m_conn, article_id, Counter::like, now);
        r.counters = counters_of(m_conn, article_id);
        return r;
    });
}

ToggleResult InteractiveService::collect(std::int64_t uid, std::int64_t article_id, std::int64_t cid) {
    check_ids(uid, article_id);
    if (cid < 0) throw Error(Code::usage, fmt::format("collection id must not be negative, not {}", cid));
    const std::int64_t now = m_clock.wall_micros();
    return in_transaction(m_conn, [&] {
        lock_article(m_conn, article_id, Require::published);
        ToggleResult r;
        std::tie(r.changed, r.moved) = UserRecord(m_conn, k_collects, uid, article_id).activate(m_ids, now, cid);
        if (r.changed) add_one(m_conn, m_ids, article_id, Counter::collect, now);
        r.counters = counters_of(m_conn, article_id);
        return r;
    });
}

ToggleResult InteractiveService::uncollect(std::int64_t uid, std::int64_t article_id) {
    check_ids(uid, article_id);
    const std::int64_t now = m_clock.wall_micros();
    return in_transaction(m_conn, [&] {
        lock_article(m_conn, article_id, Require::nothing);
        ToggleResult r;
        r.changed = UserRecord(m_conn, k_collects, uid, article_id).deactivate(now);
        if (r.changed) subtract_one(m_conn, article_id, Counter::collect, now);
        r.counters = counters_of(m_conn, article_id);
        return r;
    });
}

Interaction InteractiveService::get(std::int64_t article_id, std::optional<std::int64_t> uid) {
    if (article_id <= 0) throw Error(Code::usage, fmt::format("article id must be positive, not {}", article_id));
    if (uid && *uid <= 0) throw Error(Code::usage, fmt::format("user id must be positive, not {}", *uid));
    if (!published_status(m_conn, article_id, Lock::none)) {
        // Never published: still an article if its author has a draft.
        PortableSql draft{[](const Dialect& d) {
                              return fmt::format("SELECT {} FROM {} WHERE {} = {}", d.quote("id"), d.quote("articles"),
                                                 d.quote("id"), d.placeholder(1));
                          },
                          fmt::format("articles id={}", article_id)};
        if (!m_conn.query_one(draft, std::vector<Value>{i64(article_id)}))
            throw Error(Code::usage, fmt::format("article {} does not exist", article_id));
    }
    Interaction r;
    r.article_id = article_id;
    r.counters = counters_of(m_conn, article_id);
    if (uid) {
        auto like = UserRecord(m_conn, k_likes, *uid, article_id).current(false);
        r.liked = like && (*like)[0].as_int() == 1;
        auto collect = UserRecord(m_conn, k_collects, *uid, article_id).current(true);
        r.collected = collect && (*collect)[0].as_int() == 1;
        if (*r.collected) r.collection_id = (*collect)[1].as_int();
    }
    return r;
}

}  // namespace webook
