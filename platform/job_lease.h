// Preemptive job leases in the `jobs` table: when cron fires the same job on
// many hosts, exactly one of them runs it.
//
// A job row (name unique) records who holds it (owner) and until when
// (lease_until). A host takes the job when nobody holds it or when the
// holder's lease has passed -- the holder crashed or hung and stopped
// renewing -- in one conditional statement:
//
//   UPDATE jobs SET owner = ?, lease_until = ?, version = version + 1, ...
//    WHERE name = ? AND (owner IS NULL OR lease_until IS NULL OR lease_until < ?)
//
// so of two hosts racing for a free job one matches the row and the other
// matches nothing. The row is created on first use (insert-ignore), so the
// table needs no setup. `version` is bumped on every take-over and every
// renewal, and renew/release are conditional on (owner, version): a holder
// whose lease was taken over -- even by a process reusing its owner name --
// can no longer extend or release it, and learns it lost the job. The
// version is a fencing token: work that must not be published by a host
// that lost the job checks it inside the publishing transaction (the
// job row stays locked until that transaction ends, so a take-over cannot
// slip in between the check and the commit) -- see lock_if_held().
//
// Time. Lease times come from the *database's* clock by default (one
// `SELECT now()` per acquire/renew): every contender compares against the
// same clock, so skew between the hosts' clocks cannot make two of them
// believe they hold the job. The time read is bound as an explicit value
// (the statements never call NOW() themselves), so a test can inject a
// Clock (core/base/clock.h; its wall time) and move time to make a lease
// expire without waiting. The
// holder itself renews well before expiry (platform/ranking.h renews every third
// of the lease duration, measured on its steady clock).
//
// Not thread-safe: a JobLeases uses one Connection; one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/clock.h"

namespace webook {

class Connection;

// The job names webookctl runs under a lease. A job command given any other
// name fails with Error(Code::usage) listing these.
inline constexpr std::string_view k_rank_hot_job = "rank-hot";
const std::vector<std::string_view>& known_jobs();
// Throws Error(Code::usage) "unknown job 'x' (known jobs: rank-hot, ...)".
void check_job_name(std::string_view name);

// "<hostname>:<pid>": who this process is, as a lease owner.
std::string default_lease_owner();

// A lease this process holds. renew() updates version and until_micros.
struct Lease {
    std::string name;
    std::string owner;
    std::int64_t version = 0;       // fencing token of this holding
    std::int64_t until_micros = 0;  // lease_until, UTC micros
    std::chrono::microseconds duration{0};
};

// A job's row as stored.
struct JobState {
    std::string name;
    std::optional<std::string> owner;          // empty when free
    std::optional<std::int64_t> until_micros;  // lease_until
    std::int64_t version = 0;
    std::optional<std::int64_t> last_run_micros;  // last completed run
    bool expired = false;                         // held, but lease_until has passed (takeable)
};

struct AcquireResult {
    std::optional<Lease> lease;  // set when this call took the job
    // When not taken: who holds it and until when.
    std::string holder;
    std::int64_t holder_until_micros = 0;

    bool acquired() const { return lease.has_value(); }
};

enum class RunCompleted { no, yes };

class JobLeases {
public:
    // Lease times (microseconds since 1970-01-01 UTC) from `clock`'s wall
    // time; by default (null) from the database's clock read through `conn`.
    explicit JobLeases(Connection& conn, Clock* clock = nullptr);

    // Takes job `name` for `owner` for `duration` (> 0) when it is free or
    // its lease has passed. Never waits. Throws Error(Code::usage) for an
    // empty name or owner, or a non-positive duration.
    AcquireResult try_acquire(std::string_view name, std::string_view owner, std::chrono::microseconds duration);

    // Extends the lease to now + duration, only while `lease` is still held
    // (same owner and version); updates `lease`. Returns false when the job
    // was taken over or released meanwhile (nothing written).
    bool renew(Lease& lease);

    // Frees the job if `lease` still holds it; with RunCompleted::yes also
    // records last_run_at. Returns false when the lease was already lost.
    bool release(const Lease& lease, RunCompleted completed = RunCompleted::no);

    // The fence. Call inside a transaction: locks the job's row until the
    // transaction ends and returns whether `lease` still holds the job (same
    // owner and version; an expired lease nobody took over still counts).
    // Nothing is written, so a rollback leaves the lease as it was.
    bool lock_if_held(const Lease& lease);

    // Every job row, by name.
    std::vector<JobState> list();
    // One job's row; empty when it never ran.
    std::optional<JobState> get(std::string_view name);

    std::int64_t now_micros();

private:
    Connection& m_conn;
    Clock* m_clock;  // null: the database's
};

// Releases a held lease when it goes out of scope without release() --
// an error or an interrupt unwinding -- so the next cron run need not wait
// for the lease to expire. Best effort: errors while releasing are logged.
class LeaseGuard {
public:
    LeaseGuard(JobLeases& leases, Lease& lease) : m_leases(leases), m_lease(lease) {}
    ~LeaseGuard();
    LeaseGuard(const LeaseGuard&) = delete;
    LeaseGuard& operator=(const LeaseGuard&) = delete;

    // Releases now, recording a completed run. Returns false if it was lost.
    bool release_completed();

private:
    JobLeases& m_leases;
    Lease& m_lease;
    bool m_released = false;
};

// The database's clock, UTC micros (one query).
std::int64_t database_now_micros(Connection& conn);

}  // namespace webook
