#include "platform/schema.h"

#include "core/migration/checkpoint.h"

#include "core/base/error.h"
#include "core/db/db.h"

namespace webook {
namespace {

ColumnDef col(std::string name, ColumnType type, bool nullable = false, std::string def = {}) {
    ColumnDef c;
    c.name = std::move(name);
    c.type = type;
    c.nullable = nullable;
    c.default_sql = std::move(def);
    return c;
}

ColumnDef varchar(std::string name, int size, bool nullable = false, std::string def = {}) {
    ColumnDef c = col(std::move(name), ColumnType::varchar, nullable, std::move(def));
    c.size = size;
    return c;
}

ColumnDef decimal(std::string name, int precision, int scale, bool nullable = false) {
    ColumnDef c = col(std::move(name), ColumnType::decimal, nullable);
    c.size = precision;
    c.scale = scale;
    return c;
}

// ctime/utime: microsecond UTC timestamps; utime drives incremental validation.
void add_times(TableDef& t) {
    t.columns.push_back(col("ctime", ColumnType::datetime));
    t.columns.push_back(col("utime", ColumnType::datetime));
    t.indexes.push_back({"idx_utime", {"utime"}, false});
}

std::vector<TableDef> build() {
    std::vector<TableDef> tables;

    TableDef users{"users", {}, {"id"}, {}};
    users.columns = {col("id", ColumnType::id),
                     varchar("email", 128, true),
                     varchar("phone", 32, true),
                     col("password_hash", ColumnType::bytes, true),
                     varchar("nickname", 64, false, "''"),
                     col("birthday", ColumnType::date, true),
                     col("about_me", ColumnType::text, true),
                     col("verified", ColumnType::boolean, false, "FALSE"),
                     decimal("credit_score", 10, 2)};
    users.indexes = {{"uk_email", {"email"}, true}, {"uk_phone", {"phone"}, true}};
    add_times(users);
    tables.push_back(users);

    // Authors' drafts; status: 1 unpublished, 2 published, 3 private.
    TableDef articles{"articles", {}, {"id"}, {}};
    articles.columns = {col("id", ColumnType::id), varchar("title", 256), col("content", ColumnType::longtext),
                        col("author_id", ColumnType::bigint), col("status", ColumnType::smallint)};
    articles.indexes = {{"idx_author", {"author_id"}, false}};
    add_times(articles);
    tables.push_back(articles);

    // Readers' copy: same id as the draft.
    TableDef published{"published_articles", {}, {"id"}, {}};
    published.columns = {col("id", ColumnType::bigint), varchar("title", 256), col("content", ColumnType::longtext),
                         col("author_id", ColumnType::bigint), col("status", ColumnType::smallint)};
    published.indexes = {{"idx_author", {"author_id"}, false}};
    add_times(published);
    published.indexes.push_back({"idx_ctime", {"ctime"}, false});
    tables.push_back(published);

    TableDef interactives{"interactives", {}, {"id"}, {}};
    interactives.columns = {col("id", ColumnType::id),
                            varchar("biz", 32),
                            col("biz_id", ColumnType::bigint),
                            col("read_cnt", ColumnType::bigint, false, "0"),
                            col("like_cnt", ColumnType::bigint, false, "0"),
                            col("collect_cnt", ColumnType::bigint, false, "0")};
    interactives.indexes = {{"uk_biz", {"biz", "biz_id"}, true}};
    add_times(interactives);
    tables.push_back(interactives);

    // status: 1 liked, 0 cancelled (soft delete).
    TableDef likes{"user_like_bizs", {}, {"id"}, {}};
    likes.columns = {col("id", ColumnType::id), col("uid", ColumnType::bigint), varchar("biz", 32),
                     col("biz_id", ColumnType::bigint), col("status", ColumnType::smallint)};
    likes.indexes = {{"uk_uid_biz", {"uid", "biz", "biz_id"}, true}};
    add_times(likes);
    tables.push_back(likes);

    TableDef collects{"user_collection_bizs", {}, {"id"}, {}};
    collects.columns = {col("id", ColumnType::id),         col("uid", ColumnType::bigint),
                        col("cid", ColumnType::bigint),    varchar("biz", 32),
                        col("biz_id", ColumnType::bigint), col("status", ColumnType::smallint)};
    collects.indexes = {{"uk_uid_biz", {"uid", "biz", "biz_id"}, true}};
    add_times(collects);
    tables.push_back(collects);

    // status: 0 init, 1 paid, 2 failed. Amounts in cents.
    TableDef rewards{"rewards", {}, {"id"}, {}};
    rewards.columns = {col("id", ColumnType::id),
                       varchar("biz", 32),
                       col("biz_id", ColumnType::bigint),
                       col("uid", ColumnType::bigint),
                       col("target_uid", ColumnType::bigint),
                       col("amount", ColumnType::bigint),
                       col("status", ColumnType::smallint)};
    rewards.indexes = {{"idx_uid", {"uid"}, false}, {"idx_target", {"target_uid"}, false}};
    add_times(rewards);
    tables.push_back(rewards);

    // status: 0 init, 1 pending, 2 success, 3 failed. biz_trade_no = "reward-<id>";
    // (biz, biz_id) = ("reward", <reward id>) too, so reconciliation can merge
    // rewards, payments and ledger entries in one key order.
    TableDef payments{"payments", {}, {"id"}, {}};
    payments.columns = {col("id", ColumnType::id),
                        varchar("trade_no", 64),
                        varchar("biz_trade_no", 64),
                        varchar("biz", 32, false, "''"),
                        col("biz_id", ColumnType::bigint, false, "0"),
                        col("amount", ColumnType::bigint),
                        varchar("currency", 8, false, "'CNY'"),
                        varchar("description", 256, false, "''"),
                        col("status", ColumnType::smallint),
                        varchar("txn_id", 128, true)};
    payments.indexes = {{"uk_trade_no", {"trade_no"}, true},
                        {"uk_biz_trade_no", {"biz_trade_no"}, true},
                        {"idx_biz", {"biz", "biz_id"}, false}};
    add_times(payments);
    tables.push_back(payments);

    // type: 1 user, 2 platform (uid 0). Balances in cents.
    TableDef accounts{"accounts", {}, {"id"}, {}};
    accounts.columns = {col("id", ColumnType::id), col("uid", ColumnType::bigint), col("type", ColumnType::smallint),
                        col("balance", ColumnType::bigint, false, "0"), varchar("currency", 8, false, "'CNY'")};
    accounts.indexes = {{"uk_uid_type", {"uid", "type"}, true}};
    add_times(accounts);
    tables.push_back(accounts);

    // One ledger entry per account per (biz, biz_id): a replayed booking is a
    // unique-key conflict, not a second credit.
    TableDef activities{"account_activities", {}, {"id"}, {}};
    activities.columns = {
        col("id", ColumnType::id),         col("account_id", ColumnType::bigint),  col("uid", ColumnType::bigint),
        col("amount", ColumnType::bigint), varchar("currency", 8, false, "'CNY'"), varchar("biz", 32),
        col("biz_id", ColumnType::bigint)};
    activities.indexes = {{"uk_biz_account", {"biz", "biz_id", "account_id"}, true},
                          {"idx_account", {"account_id"}, false}};
    add_times(activities);
    tables.push_back(activities);

    // Transactional outbox; status: 0 pending, 1 sent, 2 dead.
    TableDef outbox{"outbox", {}, {"id"}, {}};
    outbox.columns = {col("id", ColumnType::id),
                      varchar("topic", 128),
                      varchar("msg_key", 128),
                      col("payload", ColumnType::text),
                      col("status", ColumnType::smallint, false, "0"),
                      col("attempts", ColumnType::integer, false, "0"),
                      col("next_attempt_at", ColumnType::datetime),
                      varchar("last_error", 512, true)};
    outbox.indexes = {{"idx_status_next", {"status", "next_attempt_at"}, false}};
    add_times(outbox);
    tables.push_back(outbox);

    // Ranking snapshots: rows of a version; ranking_current names the live one.
    TableDef ranking{"ranking_items", {}, {"version", "position"}, {}};
    ranking.columns = {col("version", ColumnType::bigint),    col("position", ColumnType::integer),
                       col("article_id", ColumnType::bigint), varchar("title", 256),
                       col("author_id", ColumnType::bigint),  col("like_cnt", ColumnType::bigint),
                       col("score", ColumnType::real),        col("ctime", ColumnType::datetime)};
    tables.push_back(ranking);

    TableDef ranking_current{"ranking_current", {}, {"name"}, {}};
    ranking_current.columns = {varchar("name", 64), col("version", ColumnType::bigint),
                               col("computed_at", ColumnType::datetime)};
    tables.push_back(ranking_current);

    // Preemptive job leases: a job is taken when free or when lease_until passed.
    TableDef jobs{"jobs", {}, {"id"}, {}};
    jobs.columns = {col("id", ColumnType::id),
                    varchar("name", 128),
                    varchar("owner", 128, true),
                    col("lease_until", ColumnType::datetime, true),
                    col("version", ColumnType::bigint, false, "0"),
                    col("last_run_at", ColumnType::datetime, true)};
    jobs.indexes = {{"uk_name", {"name"}, true}};
    add_times(jobs);
    tables.push_back(jobs);

    // The tool's own tables (core/migration/checkpoint.h), so `db init` prepares a
    // database for a migration too.
    for (const auto& t : control_tables()) tables.push_back(t);

    return tables;
}

}  // namespace

const std::vector<TableDef>& webook_tables() {
    static const std::vector<TableDef> tables = build();
    return tables;
}

const TableDef* find_table_def(std::string_view name) {
    for (const auto& t : webook_tables())
        if (t.name == name) return &t;
    return nullptr;
}

InitResult init_schema(Connection& conn) {
    InitResult result;
    for (const auto& table : webook_tables()) {
        const bool existed = conn.table_exists(table.name);
        with_context("creating table " + table.name + " in " + conn.describe(), [&] {
            for (const auto& sql : conn.dialect().create_table(table)) conn.execute(sql);
        });
        (existed ? result.existing : result.created).push_back(table.name);
    }
    return result;
}

}  // namespace webook
