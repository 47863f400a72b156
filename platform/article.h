// Authors' articles: drafts in `articles`, the readers' copy in
// `published_articles` (same id).
//
//   save      creates a draft (a new id) or edits one; an edit puts the draft
//             back to "unpublished" (it has changes readers do not see yet)
//   publish   in one transaction: saves the draft as "published" and upserts
//             the readers' copy with the draft's title and content
//   withdraw  in one transaction: both copies become "private"
//   get       the author's draft, or the readers' copy while published
//   list      an author's drafts, newest first, keyset-paginated by id
//
// Only the author changes an article: every UPDATE is conditioned on
// author_id, and zero rows matched is an error -- Error(Code::usage) saying
// whether the article does not exist or belongs to someone else -- never a
// silent success. A failed operation writes nothing.
//
// Every statement is a PortableSql with client-made ids and times (platform/ids.h),
// so an ArticleService works the same over a plain MariaDB or PostgreSQL
// connection and over the double-write connection. Transactions that hit a
// deadlock or lock wait timeout are retried (platform/platform_tx.h).
//
// Not thread-safe (it uses one Connection): one service per thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/ids.h"

namespace webook {

class Connection;

// `status` of both article tables.
enum class ArticleStatus : std::int16_t {
    unpublished = 1,
    published = 2,
    withdrawn = 3,  // "private": withdrawn by its author
};

// "unpublished", "published", "private".
std::string_view status_name(ArticleStatus status);
// Throws Error(Code::data) for a value outside 1..3.
ArticleStatus article_status(std::int64_t value);

inline constexpr std::size_t k_max_title_chars = 256;  // VARCHAR(256)

struct Draft {
    std::int64_t id = 0;                 // default: 0 = a new article
    std::int64_t author_id = 0;          // required, > 0
    std::optional<std::string> title;    // required for a new article, 1..256 characters; default: unchanged
    std::optional<std::string> content;  // default: "" for a new article, else unchanged

    // Throws Error(Code::usage) naming the first problem.
    void validate() const;
};

struct Article {
    std::int64_t id = 0;
    std::int64_t author_id = 0;
    std::string title;
    std::string content;
    ArticleStatus status = ArticleStatus::unpublished;
    std::int64_t ctime = 0;  // microseconds since the Unix epoch, UTC
    std::int64_t utime = 0;
};

struct SaveResult {
    std::int64_t id = 0;
    std::int64_t author_id = 0;
    ArticleStatus status = ArticleStatus::unpublished;
    bool created = false;  // a new draft (the id was generated)
    std::int64_t utime = 0;
};

struct WithdrawResult {
    std::int64_t id = 0;
    bool published_copy = false;  // the readers' copy existed and was made private too
    std::int64_t utime = 0;
};

struct ArticleSummary {
    std::int64_t id = 0;
    std::string title;
    ArticleStatus status = ArticleStatus::unpublished;
    std::int64_t ctime = 0;
    std::int64_t utime = 0;
};

struct ListOptions {
    int limit = 20;              // default: 20; 1..1000
    std::int64_t before_id = 0;  // default: 0 = from the newest; else only ids below it

    void validate() const;  // throws Error(Code::usage)
};

struct ArticlePage {
    std::vector<ArticleSummary> articles;        // newest (highest id) first
    std::optional<std::int64_t> next_before_id;  // set when the page is full: pass as before_id
};

class ArticleService {
public:
    // `ids` and `clock` make the ids and ctime/utime written.
    explicit ArticleService(Connection& conn, IdGenerator& ids = IdGenerator::global(), Clock& clock = Clock::real());

    SaveResult save(const Draft& draft);
    SaveResult publish(const Draft& draft);
    WithdrawResult withdraw(std::int64_t id, std::int64_t author_id);

    // The draft, for its author only.
    Article get_draft(std::int64_t id, std::int64_t author_id);
    // The readers' copy; Error(Code::usage) unless it exists and is published.
    Article get_published(std::int64_t id);

    ArticlePage list(std::int64_t author_id, const ListOptions& options = {});

private:
    // Writes the draft (insert or author-conditioned update) with `status`;
    // inside the caller's transaction when there is one.
    SaveResult write_draft(const Draft& draft, ArticleStatus status, std::int64_t now);
    // Throws the Error(Code::usage) that explains why no row of `id` by
    // `author_id` was found.
    [[noreturn]] void not_the_author(std::int64_t id, std::int64_t author_id);

    Connection& m_conn;
    IdGenerator& m_ids;
    Clock& m_clock;
};

}  // namespace webook
