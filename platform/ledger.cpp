#include "platform/ledger.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "platform/platform_tx.h"

namespace webook {
namespace {

using platform_detail::in_transaction;
using platform_detail::with_retries;

constexpr const char* k_accounts = "accounts";
constexpr const char* k_activities = "account_activities";
constexpr std::size_t k_max_biz_bytes = 32;  // VARCHAR(32)

Value i64(std::int64_t v) {
    return Value::integer(v);
}
Value at(std::int64_t micros) {
    return Value::datetime_micros(micros);
}

std::string describe(const AccountRef& a) {
    return a.type == AccountType::platform ? fmt::format("platform account (uid {})", a.uid)
                                           : fmt::format("account of user {}", a.uid);
}

// SELECT id FROM accounts WHERE uid = ? AND type = ?
PortableSql find_account(const AccountRef& a) {
    return {[](const Dialect& d) {
                return fmt::format("SELECT {} FROM {} WHERE {} = {} AND {} = {}", d.quote("id"), d.quote(k_accounts),
                                   d.quote("uid"), d.placeholder(1), d.quote("type"), d.placeholder(2));
            },
            fmt::format("{} uid={} type={}", k_accounts, a.uid, static_cast<int>(a.type))};
}

}  // namespace

void Booking::validate() const {
    if (biz.empty() || biz.size() > k_max_biz_bytes)
        throw Error(Code::usage, fmt::format("a booking's biz must be 1..{} bytes, not '{}'", k_max_biz_bytes, biz));
    if (biz_id <= 0) throw Error(Code::usage, fmt::format("a booking's biz id must be positive, not {}", biz_id));
    if (entries.empty()) throw Error(Code::usage, fmt::format("booking {} {} has no entries", biz, biz_id));
    for (std::size_t i = 0; i < entries.size(); ++i)
        for (std::size_t j = i + 1; j < entries.size(); ++j)
            if (entries[i].account == entries[j].account)
                throw Error(Code::usage, fmt::format("booking {} {} names the {} twice: one entry per account", biz,
                                                     biz_id, describe(entries[i].account)));
}

Ledger::Ledger(Connection& conn, IdGenerator& ids, Clock& clock) : m_conn(conn), m_ids(ids), m_clock(clock) {}

std::vector<std::int64_t> Ledger::ensure_accounts(const std::vector<AccountRef>& accounts) {
    std::vector<std::int64_t> ids;
    for (const AccountRef& a : accounts) {
        const std::vector<Value> key{i64(a.uid), i64(static_cast<std::int64_t>(a.type))};
        auto row = with_retries([&] { return m_conn.query_one(find_account(a), key); });
        if (!row) {
            // Committed on its own: a new account holds no lock anybody waits on.
            const std::int64_t now = m_clock.wall_micros();
            PortableSql insert{
                [](const Dialect& d) {
                    return d.insert_ignore(k_accounts, {"id", "uid", "type", "balance", "currency", "ctime", "utime"});
                },
                fmt::format("{} uid={}", k_accounts, a.uid)};
            const std::vector<Value> params{i64(m_ids.next()),  key[0],  key[1], i64(0),
                                            Value::text("CNY"), at(now), at(now)};
            with_retries([&] { return m_conn.execute(insert, params); });
            row = with_retries([&] { return m_conn.query_one(find_account(a), key); });
            if (!row) throw Error(Code::internal, fmt::format("the {} was created but cannot be read", describe(a)));
        }
        ids.push_back((*row)[0].as_int());
    }
    return ids;
}

BookingResult Ledger::book_locked(const Booking& booking, const std::vector<std::int64_t>& account_ids,
                                  std::int64_t now) {
    if (account_ids.size() != booking.entries.size())
        throw Error(Code::internal, fmt::format("booking {} {}: {} entries but {} account ids", booking.biz,
                                                booking.biz_id, booking.entries.size(), account_ids.size()));
    // Entry indexes by ascending account id: the global lock order.
    std::vector<std::size_t> order(account_ids.size());
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::sort(order.begin(), order.end(),
              [&](std::size_t x, std::size_t y) { return account_ids[x] < account_ids[y]; });

    PortableSql lock{[](const Dialect& d) {
                         return fmt::format("SELECT {} FROM {} WHERE {} = {}{}", d.quote("id"), d.quote(k_accounts),
                                            d.quote("id"), d.placeholder(1), d.for_update());
                     },
                     fmt::format("{} for booking {} {}", k_accounts, booking.biz, booking.biz_id)};
    for (std::size_t i : order) {
        if (!m_conn.query_one(lock, std::vector<Value>{i64(account_ids[i])}))
            throw Error(Code::internal,
                        fmt::format("booking {} {}: the {} (id {}) vanished", booking.biz, booking.biz_id,
                                    describe(booking.entries[i].account), account_ids[i]));
    }

    PortableSql insert{[](const Dialect& d) {
                           return d.insert_ignore(k_activities, {"id", "account_id", "uid", "amount", "currency", "biz",
                                                                 "biz_id", "ctime", "utime"});
                       },
                       fmt::format("{} {} {}", k_activities, booking.biz, booking.biz_id)};
    PortableSql credit{[](const Dialect& d) {
                           return fmt::format("UPDATE {0} SET {1} = {1} + {2}, {3} = {4} WHERE {5} = {6}",
                                              d.quote(k_accounts), d.quote("balance"), d.placeholder(1),
                                              d.quote("utime"), d.placeholder(2), d.quote("id"), d.placeholder(3));
                       },
                       fmt::format("{} balance for {} {}", k_accounts, booking.biz, booking.biz_id)};
    BookingResult result;
    for (std::size_t i : order) {
        const LedgerEntry& e = booking.entries[i];
        const std::vector<Value> entry{i64(m_ids.next()),
                                       i64(account_ids[i]),
                                       i64(e.account.uid),
                                       i64(e.amount),
                                       Value::text("CNY"),
                                       Value::text(booking.biz),
                                       i64(booking.biz_id),
                                       at(now),
                                       at(now)};
        if (m_conn.execute(insert, entry).affected_rows == 0) {
            ++result.existing;  // booked before: the unique index said so
            continue;
        }
        m_conn.execute(credit, std::vector<Value>{i64(e.amount), at(now), i64(account_ids[i])});
        ++result.written;
    }
    return result;
}

BookingResult Ledger::book(const Booking& booking) {
    booking.validate();
    std::vector<AccountRef> refs;
    for (const auto& e : booking.entries) refs.push_back(e.account);
    const std::vector<std::int64_t> ids = ensure_accounts(refs);
    const std::int64_t now = m_clock.wall_micros();
    return with_context(fmt::format("booking {} {}", booking.biz, booking.biz_id),
                        [&] { return in_transaction(m_conn, [&] { return book_locked(booking, ids, now); }); });
}

std::vector<LedgerMismatch> ledger_check(Connection& conn) {
    const Dialect& d = conn.dialect();
    std::vector<LedgerMismatch> out;
    auto collect = [&](const std::string& sql, bool missing) {
        auto cursor = conn.stream(sql);
        std::vector<Row> batch;
        while (cursor->next_batch(batch, 1000)) {
            for (const Row& r : batch) {
                LedgerMismatch m;
                m.account_id = r[0].as_int();
                m.uid = r[1].is_null() ? 0 : r[1].as_int();
                m.type = r[2].is_null() ? std::int16_t{0} : static_cast<std::int16_t>(r[2].as_int());
                m.balance = r[3].is_null() ? 0 : r[3].as_int();
                m.entries_sum = r[4].as_int();
                m.entries = r[5].as_int();
                m.account_missing = missing;
                out.push_back(m);
            }
        }
    };
    const std::string sums = fmt::format(
        "SELECT {0} AS account_id, SUM({1}) AS total, COUNT(*) AS n, MIN({2}) AS uid "
        "FROM {3} GROUP BY {0}",
        d.quote("account_id"), d.quote("amount"), d.quote("uid"), d.quote(k_activities));
    with_context("checking the ledger in " + conn.describe(), [&] {
        // Accounts whose balance is not what their entries add up to.
        collect(
            fmt::format("SELECT a.{0}, a.{1}, a.{2}, a.{3}, COALESCE(s.total, 0), COALESCE(s.n, 0) "
                        "FROM {4} a LEFT JOIN ({5}) s ON s.account_id = a.{0} "
                        "WHERE a.{3} <> COALESCE(s.total, 0) ORDER BY a.{0}",
                        d.quote("id"), d.quote("uid"), d.quote("type"), d.quote("balance"), d.quote(k_accounts), sums),
            false);
        // Entries booked to an account that does not exist.
        collect(fmt::format("SELECT s.account_id, s.uid, NULL, NULL, s.total, s.n FROM ({0}) s "
                            "LEFT JOIN {1} a ON a.{2} = s.account_id WHERE a.{2} IS NULL ORDER BY s.account_id",
                            sums, d.quote(k_accounts), d.quote("id")),
                true);
    });
    return out;
}

}  // namespace webook
