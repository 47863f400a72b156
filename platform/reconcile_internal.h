// Internal to platform/: what the parts of the reconciliation share -- status
// values, texts and booking checks of the rules (reconcile_rules.cpp), column
// lists and row readers of the reading (reconcile.cpp) -- used by the repairs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/db/db.h"
#include "platform/reconcile.h"
#include "platform/rewards.h"

namespace webook {

class Dialect;
struct Booking;

namespace reconcile_detail {

// -- From the rules (reconcile_rules.cpp) -------------------------------------

inline constexpr std::int64_t k_status_init = static_cast<std::int64_t>(RewardStatus::init);
inline constexpr std::int64_t k_status_paid = static_cast<std::int64_t>(RewardStatus::paid);
inline constexpr std::int64_t k_status_failed = static_cast<std::int64_t>(RewardStatus::failed);
inline constexpr std::int64_t k_pay_init = static_cast<std::int64_t>(PaymentStatus::init);
inline constexpr std::int64_t k_pay_pending = static_cast<std::int64_t>(PaymentStatus::pending);
inline constexpr std::int64_t k_pay_success = static_cast<std::int64_t>(PaymentStatus::success);
inline constexpr std::int64_t k_pay_failed = static_cast<std::int64_t>(PaymentStatus::failed);

// "init", "paid", ...; "status <n>" for a value outside the known ones.
std::string reward_status_text(std::int64_t s);
std::string payment_status_text(std::int64_t s);
// What a Fix does, e.g. "book the missing ledger entries".
std::string_view fix_verb(Fix f);
// True when every entry is one the booking makes, with its amount.
bool part_of_booking(const std::vector<EntryRecord>& entries, const Booking& booking);
// The entries in words, for Mismatch::detail and RepairOutcome::action.
std::string describe_entries(const std::vector<EntryRecord>& entries);

// -- From the reading (reconcile.cpp) -----------------------------------------

// The columns of rewards, payments and account_activities the reconciliation
// reads (the key first), and the records made of such a row.
std::string reward_columns(const Dialect& d);
std::string payment_columns(const Dialect& d);
std::string entry_columns(const Dialect& d);
RewardRecord reward_of(const Row& r);
PaymentRecord payment_of(Row& r);
EntryRecord entry_of(const Row& r);

}  // namespace reconcile_detail
}  // namespace webook
