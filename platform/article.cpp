#include "platform/article.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "platform/platform_tx.h"

namespace webook {
namespace {

using platform_detail::in_transaction;
using platform_detail::with_retries;

constexpr const char* k_drafts = "articles";
constexpr const char* k_published = "published_articles";
const std::vector<std::string> k_article_columns{"id", "title", "content", "author_id", "status", "ctime", "utime"};

Value i64(std::int64_t v) {
    return Value::integer(v);
}
Value status_value(ArticleStatus s) {
    return Value::integer(static_cast<std::int64_t>(s));
}
Value at(std::int64_t micros) {
    return Value::datetime_micros(micros);
}

std::string what(const char* table, std::int64_t id) {
    return fmt::format("{} id={}", table, id);
}

std::size_t utf8_chars(std::string_view s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        if ((c & 0xC0) != 0x80) ++n;
    return n;
}

// INSERT INTO table (id, title, content, author_id, status, ctime, utime).
PortableSql insert_article(const char* table, std::int64_t id) {
    return {[table](const Dialect& d) {
                return fmt::format("INSERT INTO {} ({}) VALUES {}", d.quote(table), d.quote_list(k_article_columns),
                                   d.placeholders(1, static_cast<int>(k_article_columns.size())));
            },
            what(table, id)};
}

// UPDATE table SET <columns> = ? ... WHERE id = ? AND author_id = ?
PortableSql update_by_author(const char* table, std::vector<std::string> columns, std::int64_t id) {
    return {[table, columns = std::move(columns)](const Dialect& d) {
                std::string sets;
                int n = 0;
                for (const auto& c : columns) {
                    if (n) sets += ", ";
                    sets += fmt::format("{} = {}", d.quote(c), d.placeholder(++n));
                }
                return fmt::format("UPDATE {} SET {} WHERE {} = {} AND {} = {}", d.quote(table), sets, d.quote("id"),
                                   d.placeholder(n + 1), d.quote("author_id"), d.placeholder(n + 2));
            },
            what(table, id)};
}

// SELECT id, title, content, author_id, status, ctime, utime FROM table WHERE id = ?
PortableSql select_article(const char* table, std::int64_t id) {
    return {[table](const Dialect& d) {
                return fmt::format("SELECT {} FROM {} WHERE {} = {}", d.quote_list(k_article_columns), d.quote(table),
                                   d.quote("id"), d.placeholder(1));
            },
            what(table, id)};
}

Article article_from(const Row& r) {
    Article a;
    a.id = r[0].as_int();
    a.title = std::string(r[1].as_string());
    a.content = std::string(r[2].as_string());
    a.author_id = r[3].as_int();
    a.status = article_status(r[4].as_int());
    a.ctime = r[5].micros();
    a.utime = r[6].micros();
    return a;
}

}  // namespace

std::string_view status_name(ArticleStatus status) {
    switch (status) {
    case ArticleStatus::unpublished: return "unpublished";
    case ArticleStatus::published: return "published";
    case ArticleStatus::withdrawn: return "private";
    }
    return "unknown";
}

ArticleStatus article_status(std::int64_t value) {
    if (value < 1 || value > 3) throw Error(Code::data, fmt::format("article status {} is not 1, 2 or 3", value));
    return static_cast<ArticleStatus>(value);
}

void Draft::validate() const {
    if (author_id <= 0) throw Error(Code::usage, fmt::format("author id must be positive, not {}", author_id));
    if (id < 0) throw Error(Code::usage, fmt::format("article id must be positive, not {}", id));
    if (id == 0 && !title) throw Error(Code::usage, "a new article needs a title");
    if (title && title->empty()) throw Error(Code::usage, "the title must not be empty");
    if (title && utf8_chars(*title) > k_max_title_chars)
        throw Error(Code::usage,
                    fmt::format("the title has {} characters; at most {}", utf8_chars(*title), k_max_title_chars));
}

void ListOptions::validate() const {
    if (limit < 1 || limit > 1000) throw Error(Code::usage, fmt::format("limit must be 1..1000, not {}", limit));
    if (before_id < 0) throw Error(Code::usage, fmt::format("before id must not be negative, not {}", before_id));
}

ArticleService::ArticleService(Connection& conn, IdGenerator& ids, Clock& clock)
    : m_conn(conn), m_ids(ids), m_clock(clock) {}

SaveResult ArticleService::save(const Draft& draft) {
    draft.validate();
    const std::int64_t now = m_clock.wall_micros();
    // One statement (and, when it matched nothing, a read to say why): no
    // transaction needed.
    return with_retries([&] { return write_draft(draft, ArticleStatus::unpublished, now); });
}

SaveResult ArticleService::publish(const Draft& draft) {
    draft.validate();
    const std::int64_t now = m_clock.wall_micros();
    return in_transaction(m_conn, [&] {
        SaveResult saved = write_draft(draft, ArticleStatus::published, now);
        // The readers' copy carries the draft as it now is: what this call set,
        // the rest read back from the draft (locked by the write above).
        Article copy;
        if (draft.title && draft.content) {
            copy.title = *draft.title;
            copy.content = *draft.content;
        } else {
            auto row = m_conn.query_one(select_article(k_drafts, saved.id), std::vector<Value>{i64(saved.id)});
            if (!row) throw Error(Code::internal, fmt::format("article {} vanished while publishing", saved.id));
            copy = article_from(*row);
        }
        // Insert the copy, or refresh it keeping its first publication time.
        PortableSql upsert{[](const Dialect& d) {
                               return d.upsert_add(k_published, k_article_columns, {"id"}, {},
                                                   {"title", "content", "status", "utime"});
                           },
                           what(k_published, saved.id)};
        std::vector<Value> params{i64(saved.id),
                                  Value::text(copy.title),
                                  Value::text(copy.content),
                                  i64(draft.author_id),
                                  status_value(ArticleStatus::published),
                                  at(now),
                                  at(now)};
        m_conn.execute(upsert, params);
        return saved;
    });
}

WithdrawResult ArticleService::withdraw(std::int64_t id, std::int64_t author_id) {
    if (id <= 0 || author_id <= 0)
        throw Error(Code::usage,
                    fmt::format("withdraw needs a positive article id and author id, not {} and {}", id, author_id));
    const std::int64_t now = m_clock.wall_micros();
    return in_transaction(m_conn, [&] {
        std::vector<Value> params{status_value(ArticleStatus::withdrawn), at(now), i64(id), i64(author_id)};
        if (m_conn.execute(update_by_author(k_drafts, {"status", "utime"}, id), params).affected_rows == 0)
            not_the_author(id, author_id);
        WithdrawResult r;
        r.id = id;
        r.utime = now;
        // No readers' copy when it was never published: nothing to hide there.
        r.published_copy =
            m_conn.execute(update_by_author(k_published, {"status", "utime"}, id), params).affected_rows > 0;
        return r;
    });
}

Article ArticleService::get_draft(std::int64_t id, std::int64_t author_id) {
    auto row = m_conn.query_one(select_article(k_drafts, id), std::vector<Value>{i64(id)});
    if (!row) throw Error(Code::usage, fmt::format("article {} does not exist", id));
    Article a = article_from(*row);
    if (a.author_id != author_id)
        throw Error(Code::usage, fmt::format("article {} belongs to author {}, not {}: only its author may read "
                                             "the draft (readers: get without --author)",
                                             id, a.author_id, author_id));
    return a;
}

Article ArticleService::get_published(std::int64_t id) {
    auto row = m_conn.query_one(select_article(k_published, id), std::vector<Value>{i64(id)});
    if (!row || article_status((*row)[4].as_int()) != ArticleStatus::published)
        throw Error(Code::usage, fmt::format("article {} does not exist or is not published", id));
    return article_from(*row);
}

ArticlePage ArticleService::list(std::int64_t author_id, const ListOptions& options) {
    options.validate();
    // Keyset pagination: the author index holds (author_id, id), so each page
    // starts where the last one ended, whatever the page number.
    PortableSql sql{[](const Dialect& d) {
                        return fmt::format(
                            "SELECT {}, {}, {}, {}, {} FROM {} WHERE {} = {} AND {} < {} "
                            "ORDER BY {} DESC LIMIT {}",
                            d.quote("id"), d.quote("title"), d.quote("status"), d.quote("ctime"), d.quote("utime"),
                            d.quote(k_drafts), d.quote("author_id"), d.placeholder(1), d.quote("id"), d.placeholder(2),
                            d.quote("id"), d.placeholder(3));
                    },
                    fmt::format("{} author_id={}", k_drafts, author_id)};
    const std::int64_t before = options.before_id > 0 ? options.before_id : INT64_MAX;
    std::vector<Value> params{i64(author_id), i64(before), i64(options.limit)};
    ArticlePage page;
    for (const Row& r : m_conn.query(sql, params)) {
        page.articles.push_back({r[0].as_int(), std::string(r[1].as_string()), article_status(r[2].as_int()),
                                 r[3].micros(), r[4].micros()});
    }
    if (static_cast<int>(page.articles.size()) == options.limit) page.next_before_id = page.articles.back().id;
    return page;
}

SaveResult ArticleService::write_draft(const Draft& draft, ArticleStatus status, std::int64_t now) {
    SaveResult r;
    r.author_id = draft.author_id;
    r.status = status;
    r.utime = now;
    if (draft.id == 0) {
        r.id = m_ids.next();
        r.created = true;
        std::vector<Value> params{i64(r.id),
                                  Value::text(*draft.title),
                                  Value::text(draft.content.value_or("")),
                                  i64(draft.author_id),
                                  status_value(status),
                                  at(now),
                                  at(now)};
        m_conn.execute(insert_article(k_drafts, r.id), params);
        return r;
    }
    r.id = draft.id;
    std::vector<std::string> columns;
    std::vector<Value> params;
    if (draft.title) {
        columns.push_back("title");
        params.push_back(Value::text(*draft.title));
    }
    if (draft.content) {
        columns.push_back("content");
        params.push_back(Value::text(*draft.content));
    }
    columns.push_back("status");
    params.push_back(status_value(status));
    columns.push_back("utime");
    params.push_back(at(now));
    params.push_back(i64(draft.id));
    params.push_back(i64(draft.author_id));
    // Matched rows on both engines (MySQL runs with CLIENT_FOUND_ROWS): zero
    // means no such article by this author.
    if (m_conn.execute(update_by_author(k_drafts, std::move(columns), draft.id), params).affected_rows == 0)
        not_the_author(draft.id, draft.author_id);
    return r;
}

void ArticleService::not_the_author(std::int64_t id, std::int64_t author_id) {
    PortableSql sql{[](const Dialect& d) {
                        return fmt::format("SELECT {} FROM {} WHERE {} = {}", d.quote("author_id"), d.quote(k_drafts),
                                           d.quote("id"), d.placeholder(1));
                    },
                    what(k_drafts, id)};
    auto row = m_conn.query_one(sql, std::vector<Value>{i64(id)});
    if (!row) throw Error(Code::usage, fmt::format("article {} does not exist", id));
    throw Error(Code::usage, fmt::format("article {} belongs to author {}, not {}: only its author may change it", id,
                                         (*row)[0].as_int(), author_id));
}

}  // namespace webook
