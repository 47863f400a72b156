// Internal to platform/: the repairs of `ops reconcile --fix` (reconcile_repair.cpp),
// for the run in reconcile.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/db/db.h"
#include "platform/ids.h"
#include "platform/reconcile.h"
#include "platform/rewards.h"

namespace webook::reconcile_detail {

struct RepairOutcome {
    Resolution resolution = Resolution::skipped;
    std::string action;
};

// Re-reads and repairs one reward, each repair in a transaction of its own
// that locks the reward row first (the ledger's lock order, step 1) and
// re-checks what the repair relies on.
class Repairer {
public:
    Repairer(Connection& conn, const ReconcileOptions& options, IdGenerator& ids)
        : m_conn(conn), m_options(options), m_ids(ids) {}

    RepairOutcome apply(const Mismatch& m, const RewardRows& rows);

private:
    std::optional<RewardRecord> lock_reward(std::int64_t reward_id);
    std::vector<PaymentRecord> payments_of(std::int64_t reward_id);
    std::vector<EntryRecord> entries_of(std::int64_t reward_id);
    std::optional<std::int64_t> pending_event(std::int64_t reward_id);
    RepairOutcome republish(std::int64_t reward_id, PaymentOutcome outcome);
    RepairOutcome book(std::int64_t reward_id, const RewardRecord& seen);

    Connection& m_conn;
    const ReconcileOptions& m_options;
    IdGenerator& m_ids;
};

// What --fix would do about m, for --fix --dry-run (Resolution::would_repair).
std::string preview_action(const Mismatch& m, const RewardRows& rows, const ReconcileOptions& options);

}  // namespace webook::reconcile_detail
