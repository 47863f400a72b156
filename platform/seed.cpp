#include "platform/seed.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>

#include "core/base/clock.h"
#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "platform/ids.h"
#include "platform/schema.h"

namespace webook {
namespace {

constexpr std::int64_t k_second = 1'000'000;
constexpr std::int64_t k_hour = 3600 * k_second;
constexpr std::int64_t k_day = 24 * k_hour;
constexpr std::int64_t k_spread = 8 * 7 * k_day;  // timestamps spread over eight weeks

// When the i-th of n rows was made: the eight weeks before `base` cut into n
// even steps (in whole milliseconds, so rows keep their order), plus a random
// part of its millisecond. A table's ids then grow with time, as the
// platform's do, and seed_snowflake() keeps them distinct at any n.
std::int64_t spread_micros(std::int64_t base, std::int64_t i, std::int64_t n, std::int64_t sub_millisecond) {
    const std::int64_t start_ms = (base - k_spread) / 1000;
    const auto step =
        static_cast<std::int64_t>(static_cast<__int128>(i) * (k_spread / 1000) / std::max<std::int64_t>(n, 1));
    return (start_ms + step) * 1000 + sub_millisecond;
}

// The id the platform would have given the i-th row of a table made at
// `micros` (platform/ids.h): a snowflake of that millisecond, so ranges by
// time (ops reconcile --from 7d) find seeded rows as they find real ones.
// `table` (0..15) and bits 12..17 of i make the worker id, i's low 12 bits
// the sequence: rows of one tag are distinct unless two of them share a
// millisecond and i's low 18 bits. Rows made by spread_micros() below never
// do (fewer than 2^18 of them share a millisecond).
constexpr std::int64_t k_low_bits = IdGenerator::k_worker_bits - 4 + IdGenerator::k_sequence_bits;  // 18
std::int64_t seed_snowflake(std::int64_t micros, int table, std::int64_t i) {
    const std::int64_t millis = micros / 1000 - IdGenerator::k_epoch_millis;
    const std::int64_t low = i & ((std::int64_t{1} << k_low_bits) - 1);
    return (millis << (IdGenerator::k_worker_bits + IdGenerator::k_sequence_bits)) |
           (std::int64_t{table} << k_low_bits) | low;
}

// splitmix64: small, fast, and the same sequence everywhere.
class Random {
public:
    explicit Random(std::uint64_t seed) : m_state(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (m_state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    std::int64_t below(std::int64_t n) { return static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(n)); }
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    bool chance(double p) { return unit() < p; }
    // 1..n, skewed to small values (popular items first): a Zipf-like draw.
    std::int64_t skewed(std::int64_t n) {
        double u = unit();
        auto v = static_cast<std::int64_t>(std::pow(static_cast<double>(n), u * u));
        return std::clamp<std::int64_t>(v, 1, n);
    }

private:
    std::uint64_t m_state;
};

const std::vector<std::string> k_words = {
    "迁移",    "数据",       "架构",          "缓存",   "排行榜",   "点赞",   "收藏", "Kafka",
    "MySQL",   "PostgreSQL", "zero-downtime", "café",   "naïve",    "über",   "🚀",    "😀",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "高并发",     "分布式",        "锁",     "Go",       "C++",    "rank", "ledger",
    "outbox",  "Ünïcödé",    "日本語",        "한국어", "Ελληνικά", "emoji🎉",
};

std::string words(Random& rng, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
        if (i) out += ' ';
        out += k_words[rng.below(static_cast<std::int64_t>(k_words.size()))];
    }
    return out;
}

std::string content(Random& rng) {
    // Mostly a few hundred bytes; one in a hundred is long (~50 KB).
    int paragraphs = rng.chance(0.01) ? 800 : 2 + static_cast<int>(rng.below(12));
    std::string out;
    for (int p = 0; p < paragraphs; ++p) {
        out += words(rng, 6 + static_cast<int>(rng.below(8)));
        out += p + 1 < paragraphs ? "\n\n" : "";
    }
    return out;
}

// A seeded table: its columns and rows, written through one BulkWriter.
class TableLoad {
public:
    TableLoad(Connection& conn, std::string table, std::vector<std::string> columns)
        : m_conn(conn), m_table(std::move(table)), m_columns(std::move(columns)) {}

    template <typename Fill>
    std::int64_t run(Fill&& fill) {
        Transaction tx(m_conn);
        auto writer = m_conn.bulk_insert(m_table, m_columns);
        std::int64_t n = 0;
        Row row;
        auto emit = [&](Row&& r) {
            writer->write(r);
            if (++n % 65536 == 0) check_interrupted();
        };
        fill(emit);
        writer->finish();
        tx.commit();
        return n;
    }

private:
    Connection& m_conn;
    std::string m_table;
    std::vector<std::string> m_columns;
};

Value ts(std::int64_t micros) {
    return Value::datetime_micros(micros);
}
Value i64(std::int64_t v) {
    return Value::integer(v);
}

}  // namespace

void SeedOptions::validate() const {
    for (auto [name, v] : {std::pair{"users", users},
                           {"articles", articles},
                           {"interactives", interactives},
                           {"likes", likes},
                           {"collects", collects},
                           {"rewards", rewards}})
        if (v < 0) throw Error(Code::usage, fmt::format("--{} must not be negative", name));
    if (users < 1 && (articles > 0 || likes > 0 || collects > 0 || rewards > 0))
        throw Error(Code::usage, "--users must be at least 1 when anything else is seeded");
    if (articles < 1 && (rewards > 0 || likes > 0 || collects > 0))
        throw Error(Code::usage, "--articles must be at least 1 when likes, collects or rewards are seeded");
}

SeedResult seed_database(Connection& conn, const SeedOptions& opt) {
    opt.validate();
    const auto started = std::chrono::steady_clock::now();
    const auto* logger = log::get("seed");
    const Dialect& d = conn.dialect();

    std::int64_t base = opt.base_time_micros;
    if (base == 0) {
        auto now = system_micros();
        base = now / k_hour * k_hour;
    }
    const std::vector<std::string> tables = {
        "users",   "articles", "published_articles", "interactives",       "user_like_bizs", "user_collection_bizs",
        "rewards", "payments", "accounts",           "account_activities", "outbox"};
    // Refuse to mix seed rows into real data.
    for (const auto& t : tables) {
        if (!conn.table_exists(t))
            throw Error(Code::config,
                        fmt::format("table '{}' not found in {}: run 'webookctl db init' first", t, conn.describe()));
        if (opt.truncate == Truncate::yes) {
            conn.execute(d.truncate(t));
        } else if (conn.query_one(fmt::format("SELECT 1 FROM {} LIMIT 1", d.quote(t)))) {
            throw Error(Code::usage, fmt::format("table '{}' in {} is not empty: pass --truncate to replace "
                                                 "its rows",
                                                 t, conn.describe()));
        }
    }

    SeedResult result;
    auto load = [&](const std::string& table, std::vector<std::string> columns, auto&& fill) {
        auto t0 = std::chrono::steady_clock::now();
        std::int64_t n = with_context("seeding " + table + " in " + conn.describe(),
                                      [&] { return TableLoad(conn, table, std::move(columns)).run(fill); });
        for (const auto& sql : d.sync_identity(table, "id")) conn.execute(sql);
        double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        logger->info("{}: {} rows in {:.2f}s ({:.0f} rows/s)", table, n, s, s > 0 ? n / s : 0.0);
        result.inserted.push_back({table, n});
    };

    // users: NULL emails/phones/birthdays/about_me, binary hashes, unicode nicknames.
    load("users",
         {"id", "email", "phone", "password_hash", "nickname", "birthday", "about_me", "verified", "credit_score",
          "ctime", "utime"},
         [&](auto& emit) {
             Random rng(opt.seed ^ 0x75736572);
             for (std::int64_t id = 1; id <= opt.users; ++id) {
                 std::string hash(32, '\0');
                 for (auto& c : hash) c = static_cast<char>(rng.next() & 0xff);
                 std::int64_t ctime = base - rng.below(k_spread);
                 std::string about;
                 if (rng.chance(0.1))
                     about = "";  // empty, not NULL
                 else if (rng.chance(0.05))
                     about = words(rng, 3) + "  ";  // trailing spaces kept
                 else
                     about = words(rng, 5 + static_cast<int>(rng.below(30)));
                 emit(Row{i64(id), rng.chance(0.2) ? Value() : Value::text(fmt::format("user{}@example.com", id)),
                          rng.chance(0.3) ? Value() : Value::text(fmt::format("+86-138{:08}", id)),
                          Value::bytes(std::move(hash)), Value::text(words(rng, 1 + static_cast<int>(rng.below(2)))),
                          rng.chance(0.4) ? Value() : Value::date_days(-3650 + rng.below(20000)),
                          rng.chance(0.5) ? Value() : Value::text(std::move(about)), Value::boolean(rng.chance(0.3)),
                          Value::decimal(fmt::format("{}.{:02}", 300 + rng.below(600), rng.below(100))), ts(ctime),
                          ts(ctime + rng.below(k_day))});
             }
         });

    // articles and their published copies: 70% published, 10% withdrawn
    // (private on both sides), 20% drafts.
    struct ArticleMeta {
        std::int64_t author;
        std::int64_t ctime;
        int status;
    };
    std::vector<ArticleMeta> meta;
    meta.reserve(static_cast<std::size_t>(opt.articles));
    // article_ids[k - 1]: the k-th article's id (k as rng.skewed() draws it).
    std::vector<std::int64_t> article_ids;
    article_ids.reserve(static_cast<std::size_t>(opt.articles));
    auto article_id = [&](std::int64_t k) { return article_ids[static_cast<std::size_t>(k - 1)]; };
    auto article_row = [&](Random& rng, std::int64_t id, const ArticleMeta& m, int status) {
        return Row{i64(id),
                   Value::text(words(rng, 2 + static_cast<int>(rng.below(6)))),
                   Value::text(content(rng)),
                   i64(m.author),
                   i64(status),
                   ts(m.ctime),
                   ts(m.ctime + rng.below(2 * k_hour))};
    };
    const std::vector<std::string> article_columns = {"id",     "title", "content", "author_id",
                                                      "status", "ctime", "utime"};
    load("articles", article_columns, [&](auto& emit) {
        Random rng(opt.seed ^ 0x61727469);
        for (std::int64_t k = 1; k <= opt.articles; ++k) {
            double p = rng.unit();
            ArticleMeta m{rng.skewed(opt.users), spread_micros(base, k - 1, opt.articles, rng.below(1000)),
                          p < 0.7 ? 2 : (p < 0.8 ? 3 : 1)};
            meta.push_back(m);
            article_ids.push_back(seed_snowflake(m.ctime, 5, k - 1));
            Random text_rng(opt.seed ^ static_cast<std::uint64_t>(k) * 0x9e37);
            emit(article_row(text_rng, article_id(k), m, m.status));
        }
    });
    load("published_articles", article_columns, [&](auto& emit) {
        for (std::int64_t k = 1; k <= opt.articles; ++k) {
            const auto& m = meta[static_cast<std::size_t>(k - 1)];
            if (m.status == 1) continue;
            Random text_rng(opt.seed ^ static_cast<std::uint64_t>(k) * 0x9e37);  // same text as the draft
            emit(article_row(text_rng, article_id(k), m, m.status));
        }
    });

    // user_like_bizs / user_collection_bizs: unique (uid, biz, biz_id),
    // skewed to popular articles, some cancelled (status 0). Made first: the
    // articles' interactives count exactly their active rows.
    struct UserBizRows {
        std::vector<Row> rows;
        std::unordered_map<std::int64_t, std::int64_t> active;  // article (k) -> rows with status 1
    };
    auto user_biz = [&](std::int64_t count, std::uint64_t salt, int tag, bool with_cid) {
        UserBizRows out;
        Random rng(opt.seed ^ salt);
        std::unordered_set<std::uint64_t> seen;
        seen.reserve(static_cast<std::size_t>(count));
        std::int64_t made = 0, attempts = 0;
        while (made < count && attempts < count * 20) {
            ++attempts;
            std::int64_t uid = 1 + rng.below(opt.users);
            std::int64_t k = rng.skewed(opt.articles);
            if (!seen.insert(static_cast<std::uint64_t>(uid) * 0x1000000ULL + static_cast<std::uint64_t>(k)).second)
                continue;
            std::int64_t ctime = spread_micros(base, made, count, rng.below(1000));
            Row row{i64(seed_snowflake(ctime, tag, made)), i64(uid)};
            ++made;
            if (with_cid) row.push_back(i64(1 + rng.below(5)));
            const bool active = rng.chance(0.9);
            if (active) ++out.active[k];
            for (auto&& v : {Value::text("article"), i64(article_id(k)), i64(active ? 1 : 0), ts(ctime),
                             ts(ctime + rng.below(k_day))})
                row.push_back(v);
            out.rows.push_back(std::move(row));
        }
        return out;
    };
    const UserBizRows likes = user_biz(opt.likes, 0x6c696b65, 6, false);
    const UserBizRows collects = user_biz(opt.collects, 0x636f6c6c, 7, true);
    auto active_of = [](const UserBizRows& r, std::int64_t k) {
        auto it = r.active.find(k);
        return it == r.active.end() ? std::int64_t{0} : it->second;
    };

    // interactives: one per article, then other bizes; reads skewed by rank.
    // An article's like_cnt and collect_cnt are its active likes and
    // collections above; the other bizes have none of those records, so 0.
    const std::int64_t n_inter = opt.interactives > 0 ? opt.interactives : opt.articles;
    load("interactives", {"id", "biz", "biz_id", "read_cnt", "like_cnt", "collect_cnt", "ctime", "utime"},
         [&](auto& emit) {
             Random rng(opt.seed ^ 0x696e7465);
             static const std::vector<std::string> others = {"video", "comment", "answer"};
             // An article's row is made with it (tag 8); the other bizes'
             // rows (tag 9) over the eight weeks.
             const std::int64_t n_other = n_inter - std::min(n_inter, opt.articles);
             for (std::int64_t i = 1; i <= n_inter; ++i) {
                 const bool article = i <= opt.articles;
                 std::string biz = "article";
                 std::int64_t rank = i;  // of the item among its biz's: small ranks are read far more
                 std::int64_t biz_id = 0;
                 std::int64_t k = i - opt.articles - 1;  // the other bizes' row index
                 if (article) {
                     biz_id = article_id(i);
                 } else {
                     biz = others[static_cast<std::size_t>(k % 3)];
                     rank = biz_id = k / 3 + 1;
                 }
                 double heat = 1.0 / std::pow(static_cast<double>(rank), 0.7);
                 std::int64_t reads = static_cast<std::int64_t>(200000 * heat * rng.unit()) + rng.below(50);
                 const std::int64_t like_cnt = article ? active_of(likes, i) : 0;
                 const std::int64_t collect_cnt = article ? active_of(collects, i) : 0;
                 reads = std::max(reads, like_cnt + collect_cnt);  // a like or collection is a read too
                 std::int64_t ctime = article ? meta[static_cast<std::size_t>(i - 1)].ctime
                                              : spread_micros(base, k, n_other, rng.below(1000));
                 const std::int64_t id = article ? seed_snowflake(ctime, 8, i - 1) : seed_snowflake(ctime, 9, k);
                 emit(Row{i64(id), Value::text(biz), i64(biz_id), i64(reads), i64(like_cnt), i64(collect_cnt),
                          ts(ctime), ts(std::min(base, ctime + rng.below(7 * k_day)))});
             }
         });

    auto load_user_biz = [&](const std::string& table, const UserBizRows& r, bool with_cid) {
        std::vector<std::string> cols = {"id", "uid"};
        if (with_cid) cols.push_back("cid");
        for (const char* c : {"biz", "biz_id", "status", "ctime", "utime"}) cols.push_back(c);
        load(table, cols, [&](auto& emit) {
            for (const auto& row : r.rows) emit(Row(row));
        });
    };
    load_user_biz("user_like_bizs", likes, false);
    load_user_biz("user_collection_bizs", collects, true);

    // rewards -> payments -> ledger. 80% paid (booked 90/10 to author and
    // platform), 10% still pending, 10% failed.
    struct Booking {
        std::int64_t reward_id, author, amount, time;
    };
    std::vector<Booking> bookings;
    struct RewardMeta {
        std::int64_t article, uid, author, amount, ctime;
        int outcome;  // 0 paid, 1 pending, 2 failed
    };
    std::vector<RewardMeta> rewards;
    {
        Random rng(opt.seed ^ 0x72657761);
        for (std::int64_t i = 0; i < opt.rewards; ++i) {
            std::int64_t k = rng.skewed(opt.articles);
            double p = rng.unit();
            rewards.push_back({article_id(k), 1 + rng.below(opt.users), meta[static_cast<std::size_t>(k - 1)].author,
                               (1 + rng.below(50)) * 100 + (rng.chance(0.3) ? rng.below(100) : 0),
                               spread_micros(base, i, opt.rewards, rng.below(1000)), p < 0.8 ? 0 : (p < 0.9 ? 1 : 2)});
        }
    }
    // Their ids, and their payments', the platform's snowflakes of when each
    // was made (platform/rewards.cpp makes both at once).
    std::vector<std::int64_t> reward_ids, payment_ids;
    for (std::size_t i = 0; i < rewards.size(); ++i) {
        reward_ids.push_back(seed_snowflake(rewards[i].ctime, 0, static_cast<std::int64_t>(i)));
        payment_ids.push_back(seed_snowflake(rewards[i].ctime, 1, static_cast<std::int64_t>(i)));
    }
    load("rewards", {"id", "biz", "biz_id", "uid", "target_uid", "amount", "status", "ctime", "utime"},
         [&](auto& emit) {
             for (std::size_t i = 0; i < rewards.size(); ++i) {
                 const auto& r = rewards[i];
                 int status = r.outcome == 0 ? 1 : (r.outcome == 1 ? 0 : 2);
                 emit(Row{i64(reward_ids[i]), Value::text("article"), i64(r.article), i64(r.uid), i64(r.author),
                          i64(r.amount), i64(status), ts(r.ctime), ts(r.ctime + 90 * k_second)});
             }
         });
    load("payments",
         {"id", "trade_no", "biz_trade_no", "biz", "biz_id", "amount", "currency", "description", "status", "txn_id",
          "ctime", "utime"},
         [&](auto& emit) {
             Random rng(opt.seed ^ 0x70617970);
             for (std::size_t i = 0; i < rewards.size(); ++i) {
                 const auto& r = rewards[i];
                 const std::int64_t id = reward_ids[i];
                 int status = r.outcome == 0 ? 2 : (r.outcome == 1 ? 1 : 3);
                 emit(Row{i64(payment_ids[i]), Value::text(fmt::format("T{:016x}", rng.next())),
                          Value::text(fmt::format("reward-{}", id)), Value::text("reward"), i64(id), i64(r.amount),
                          Value::text("CNY"), Value::text(fmt::format("打赏 reward for article {}", r.article)),
                          i64(status), status == 2 ? Value::text(fmt::format("wx{:012x}", rng.next() >> 16)) : Value(),
                          ts(r.ctime), ts(r.ctime + 60 * k_second)});
                 if (r.outcome == 0) bookings.push_back({id, r.author, r.amount, r.ctime + 90 * k_second});
             }
         });

    // Accounts: platform (uid 0, type 2) first, then each author paid.
    std::vector<std::pair<std::int64_t, std::int64_t>> balances;  // (uid, balance); index+1 = account id
    std::unordered_map<std::int64_t, std::size_t> account_of;
    balances.push_back({0, 0});
    for (const auto& b : bookings) {
        auto [it, fresh] = account_of.emplace(b.author, balances.size());
        if (fresh) balances.push_back({b.author, 0});
        std::int64_t author_share = b.amount * 90 / 100;
        balances[it->second].second += author_share;
        balances[0].second += b.amount - author_share;
    }
    if (bookings.empty()) balances.clear();
    load("accounts", {"id", "uid", "type", "balance", "currency", "ctime", "utime"}, [&](auto& emit) {
        for (std::size_t i = 0; i < balances.size(); ++i)
            emit(Row{i64(static_cast<std::int64_t>(i) + 1), i64(balances[i].first), i64(i == 0 ? 2 : 1),
                     i64(balances[i].second), Value::text("CNY"), ts(base - k_spread), ts(base)});
    });
    load("account_activities", {"id", "account_id", "uid", "amount", "currency", "biz", "biz_id", "ctime", "utime"},
         [&](auto& emit) {
             std::int64_t n = 0;  // the booking's index: its two entries differ in the table tag (2, 4)
             for (const auto& b : bookings) {
                 std::int64_t author_share = b.amount * 90 / 100;
                 auto account = static_cast<std::int64_t>(account_of.at(b.author)) + 1;
                 emit(Row{i64(seed_snowflake(b.time, 2, n)), i64(account), i64(b.author), i64(author_share),
                          Value::text("CNY"), Value::text("reward"), i64(b.reward_id), ts(b.time), ts(b.time)});
                 emit(Row{i64(seed_snowflake(b.time, 4, n++)), i64(1), i64(0), i64(b.amount - author_share),
                          Value::text("CNY"), Value::text("reward"), i64(b.reward_id), ts(b.time), ts(b.time)});
             }
         });
    // The outbox rows of successful payments, already relayed.
    load("outbox",
         {"id", "topic", "msg_key", "payload", "status", "attempts", "next_attempt_at", "last_error", "ctime", "utime"},
         [&](auto& emit) {
             std::int64_t n = 0;
             for (const auto& b : bookings) {
                 std::string key = fmt::format("reward-{}", b.reward_id);
                 emit(Row{i64(seed_snowflake(b.time, 3, n++)), Value::text("payment_events"), Value::text(key),
                          Value::text(
                              fmt::format(R"({{"biz_trade_no":"{}","status":"success","amount":{}}})", key, b.amount)),
                          i64(1), i64(1), ts(b.time), Value(), ts(b.time), ts(b.time)});
             }
         });

    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return result;
}

std::vector<TableCount> count_rows(Connection& conn) {
    std::vector<TableCount> counts;
    for (const auto& t : webook_tables()) {
        // The same message on both engines, with the way out.
        if (!conn.table_exists(t.name))
            throw Error(Code::config, fmt::format("table '{}' not found in {}: run 'webookctl db init' first", t.name,
                                                  conn.describe()));
        auto row = with_context("counting " + t.name + " in " + conn.describe(),
                                [&] { return conn.query_one("SELECT COUNT(*) FROM " + conn.dialect().quote(t.name)); });
        counts.push_back({t.name, row ? (*row)[0].as_int() : 0});
    }
    return counts;
}

}  // namespace webook
