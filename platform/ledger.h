// The ledger: account balances (`accounts`) and the entries that explain
// them (`account_activities`). Double-entry invariant: every balance equals
// the sum of its account's entries, because both only change together, in
// one transaction.
//
// A booking credits (or debits) several accounts for one business event
// (biz, biz_id), e.g. ("reward", 42): author +90 %, platform +10 %. It is
// exactly-once by construction, not by a status check: the unique index
// (biz, biz_id, account_id) admits one entry per account per event, entries
// are INSERT-ignored, and a balance moves only when its entry was actually
// inserted. A replayed event (redelivered message, relay that died before
// marking its outbox row, a retried transaction whose commit outcome was
// unknown) inserts nothing and moves nothing.
//
// Locking protocol, the same for every transaction that writes balances:
//   0. the accounts exist: created beforehand, each by its own committed
//      INSERT-ignore on (uid, type) (an empty account does not break the
//      invariant), so no transaction ever waits on another's new account;
//   1. (callers) the business row, e.g. the reward, SELECT ... FOR UPDATE;
//   2. the account rows, one SELECT ... FOR UPDATE each, by ascending id;
//   3. the entries (INSERT-ignore), then the balances (UPDATE ... balance =
//      balance + delta) of accounts already locked.
// Every transaction takes its row locks in this global order, so two
// bookings over the same or crossing accounts (A->B while B->A) wait for one
// another instead of deadlocking. Should a server still report a deadlock or
// lock wait timeout (gap locks are beyond this protocol), the transaction is
// rolled back by the server and retried.
//
// Amounts are integer cents. Not thread-safe (one Connection): one Ledger per
// thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "platform/ids.h"

namespace webook {

class Connection;

// `accounts.type`.
enum class AccountType : std::int16_t {
    user = 1,
    platform = 2,  // the platform's own account: uid 0
};

inline constexpr std::int64_t k_platform_uid = 0;

struct AccountRef {
    std::int64_t uid = 0;
    AccountType type = AccountType::user;

    static AccountRef platform() { return {k_platform_uid, AccountType::platform}; }
    friend bool operator==(const AccountRef&, const AccountRef&) = default;
};

struct LedgerEntry {
    AccountRef account;
    std::int64_t amount = 0;  // cents; negative debits
};

struct Booking {
    std::string biz;                   // required, 1..32 bytes, e.g. "reward"
    std::int64_t biz_id = 0;           // required, > 0
    std::vector<LedgerEntry> entries;  // required, one per account

    // Throws Error(Code::usage) naming the first problem.
    void validate() const;
};

struct BookingResult {
    int written = 0;   // entries inserted (and balances moved) by this call
    int existing = 0;  // entries already booked before: replays
    bool replay() const { return written == 0 && existing > 0; }
};

// An account whose balance is not the sum of its entries (or entries whose
// account does not exist: account_missing).
struct LedgerMismatch {
    std::int64_t account_id = 0;
    std::int64_t uid = 0;
    std::int16_t type = 0;
    std::int64_t balance = 0;
    std::int64_t entries_sum = 0;
    std::int64_t entries = 0;  // how many entries
    bool account_missing = false;
};

class Ledger {
public:
    explicit Ledger(Connection& conn, IdGenerator& ids = IdGenerator::global(), Clock& clock = Clock::real());

    // Step 0: the ids of `accounts`, in the same order, creating the missing
    // ones (balance 0) with their own autocommitted statements. Call outside
    // a transaction.
    std::vector<std::int64_t> ensure_accounts(const std::vector<AccountRef>& accounts);

    // Steps 2 and 3 inside the caller's open transaction; `account_ids` from
    // ensure_accounts(), in the order of booking.entries. Throws
    // Error(Code::internal) if an account vanished.
    BookingResult book_locked(const Booking& booking, const std::vector<std::int64_t>& account_ids, std::int64_t now);

    // A whole booking in a transaction of its own, retried on deadlocks and
    // lock wait timeouts.
    BookingResult book(const Booking& booking);

private:
    Connection& m_conn;
    IdGenerator& m_ids;
    Clock& m_clock;
};

// Every account whose balance differs from the sum of its entries, and
// entries of accounts that do not exist; empty when the ledger adds up. One
// aggregate query per check, computed inside the database.
std::vector<LedgerMismatch> ledger_check(Connection& conn);

}  // namespace webook
