#include "platform/job_lease.h"

#include <cstdio>

#include <unistd.h>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/db.h"
#include "core/db/dialect.h"

namespace webook {
namespace {

constexpr const char* k_jobs_table = "jobs";

const log::Logger& logger() {
    static const log::Logger* l = log::get("jobs");
    return *l;
}

Value micros(std::int64_t v) {
    return Value::datetime_micros(v);
}

std::string job_context(std::string_view name) {
    return fmt::format("job {}", name);
}

}  // namespace

const std::vector<std::string_view>& known_jobs() {
    static const std::vector<std::string_view> jobs = {k_rank_hot_job};
    return jobs;
}

void check_job_name(std::string_view name) {
    for (auto known : known_jobs())
        if (known == name) return;
    std::string list;
    for (auto known : known_jobs()) list += (list.empty() ? "" : ", ") + std::string(known);
    throw Error(Code::usage, fmt::format("unknown job '{}' (known jobs: {})", name, list));
}

std::string default_lease_owner() {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof host, "unknown-host");
    return fmt::format("{}:{}", host, static_cast<long>(getpid()));
}

std::int64_t database_now_micros(Connection& conn) {
    auto row = conn.query_one(PortableSql{[](const Dialect& d) { return fmt::format("SELECT {}", d.now()); }, {}});
    if (!row || row->empty() || row->at(0).is_null())
        throw Error(Code::server, "reading the database clock returned nothing");
    return row->at(0).micros();
}

JobLeases::JobLeases(Connection& conn, Clock* clock) : m_conn(conn), m_clock(clock) {}

std::int64_t JobLeases::now_micros() {
    return m_clock ? m_clock->wall_micros() : database_now_micros(m_conn);
}

AcquireResult JobLeases::try_acquire(std::string_view name, std::string_view owner,
                                     std::chrono::microseconds duration) {
    if (name.empty()) throw Error(Code::usage, "a job needs a name");
    if (owner.empty()) throw Error(Code::usage, "a lease owner must not be empty");
    if (duration.count() <= 0) throw Error(Code::usage, "a lease duration must be positive");
    // Portable: through a double-write connection the lease is kept on both
    // sides, in the mode's order, and read from the first.
    const PortableSql take_sql{[](const Dialect& d) {
                                   return fmt::format(
                                       "UPDATE {0} SET owner = {1}, lease_until = {2}, version = version + 1, "
                                       "utime = {3} WHERE name = {4} AND (owner IS NULL OR lease_until IS NULL OR "
                                       "lease_until < {5})",
                                       d.quote(k_jobs_table), d.placeholder(1), d.placeholder(2), d.placeholder(3),
                                       d.placeholder(4), d.placeholder(5));
                               },
                               "jobs take"};
    const PortableSql read_sql{[](const Dialect& d) {
                                   return fmt::format("SELECT owner, lease_until, version FROM {} WHERE name = {}",
                                                      d.quote(k_jobs_table), d.placeholder(1));
                               },
                               {}};
    const PortableSql insert_sql{[](const Dialect& d) {
                                     return d.insert_ignore(k_jobs_table, {"name", "version", "ctime", "utime"});
                                 },
                                 "jobs insert"};

    return with_context(job_context(name), [&] {
        // Three rounds cover the races: the row is created by someone else
        // between our look and our insert, or the holder releases between
        // our failed take and our look.
        for (int round = 0; round < 3; ++round) {
            const std::int64_t now = now_micros();
            const std::int64_t until = now + duration.count();
            {
                Transaction tx(m_conn);
                const Value take[] = {Value::text(std::string(owner)), micros(until), micros(now),
                                      Value::text(std::string(name)), micros(now)};
                if (m_conn.execute(take_sql, take).affected_rows == 1) {
                    // Our UPDATE holds the row lock: this reads our own version.
                    const Value key[] = {Value::text(std::string(name))};
                    auto row = m_conn.query_one(read_sql, key);
                    tx.commit();
                    if (!row) throw Error(Code::internal, "the job row vanished after taking it");
                    AcquireResult r;
                    r.lease = Lease{std::string(name), std::string(owner), row->at(2).as_int(), until, duration};
                    logger().debug("{} taken by {} until {} (version {})", name, owner, format_datetime(until),
                                   r.lease->version);
                    return r;
                }
                tx.commit();
            }
            const Value key[] = {Value::text(std::string(name))};
            auto row = m_conn.query_one(read_sql, key);
            if (!row) {
                // First use of this job: create its free row, then try again.
                const Value fresh[] = {Value::text(std::string(name)), Value::integer(0), micros(now), micros(now)};
                m_conn.execute(insert_sql, fresh);
                continue;
            }
            const Value& holder = row->at(0);
            const Value& holder_until = row->at(1);
            if (holder.is_null() || holder_until.is_null() || holder_until.micros() < now) continue;
            AcquireResult r;
            r.holder = std::string(holder.as_string());
            r.holder_until_micros = holder_until.micros();
            return r;
        }
        throw Error(Code::server, "the job row kept changing while trying to take it; try again", Temporary::yes);
    });
}

bool JobLeases::renew(Lease& lease) {
    const std::int64_t now = now_micros();
    const std::int64_t until = now + lease.duration.count();
    const PortableSql sql{[](const Dialect& d) {
                              return fmt::format(
                                  "UPDATE {} SET lease_until = {}, version = version + 1, utime = {} "
                                  "WHERE name = {} AND owner = {} AND version = {}",
                                  d.quote(k_jobs_table), d.placeholder(1), d.placeholder(2), d.placeholder(3),
                                  d.placeholder(4), d.placeholder(5));
                          },
                          "jobs renew"};
    const Value params[] = {micros(until), micros(now), Value::text(lease.name), Value::text(lease.owner),
                            Value::integer(lease.version)};
    const bool held =
        with_context(job_context(lease.name), [&] { return m_conn.execute(sql, params).affected_rows == 1; });
    if (held) {
        ++lease.version;
        lease.until_micros = until;
    }
    return held;
}

bool JobLeases::release(const Lease& lease, RunCompleted completed) {
    const std::int64_t now = now_micros();
    const bool done = completed == RunCompleted::yes;
    std::vector<Value> params = {micros(now)};
    if (done) params.push_back(micros(now));
    const int n = static_cast<int>(params.size());
    const PortableSql sql{[done, n](const Dialect& d) {
                              std::string sets =
                                  fmt::format("owner = NULL, lease_until = NULL, version = version + 1, utime = {}",
                                              d.placeholder(1));
                              if (done) sets += fmt::format(", last_run_at = {}", d.placeholder(2));
                              return fmt::format("UPDATE {} SET {} WHERE name = {} AND owner = {} AND version = {}",
                                                 d.quote(k_jobs_table), sets, d.placeholder(n + 1),
                                                 d.placeholder(n + 2), d.placeholder(n + 3));
                          },
                          "jobs release"};
    params.push_back(Value::text(lease.name));
    params.push_back(Value::text(lease.owner));
    params.push_back(Value::integer(lease.version));
    return with_context(job_context(lease.name), [&] { return m_conn.execute(sql, params).affected_rows == 1; });
}

bool JobLeases::lock_if_held(const Lease& lease) {
    const PortableSql sql{[](const Dialect& d) {
                              return fmt::format(
                                  "SELECT version FROM {} WHERE name = {} AND owner = {} AND "
                                  "version = {}{}",
                                  d.quote(k_jobs_table), d.placeholder(1), d.placeholder(2), d.placeholder(3),
                                  d.for_update());
                          },
                          {}};
    const Value params[] = {Value::text(lease.name), Value::text(lease.owner), Value::integer(lease.version)};
    return with_context(job_context(lease.name), [&] { return m_conn.query_one(sql, params).has_value(); });
}

namespace {

JobState job_state(const Row& row, std::int64_t now) {
    JobState s;
    s.name = std::string(row.at(0).as_string());
    if (!row.at(1).is_null()) s.owner = std::string(row.at(1).as_string());
    if (!row.at(2).is_null()) s.until_micros = row.at(2).micros();
    s.version = row.at(3).as_int();
    if (!row.at(4).is_null()) s.last_run_micros = row.at(4).micros();
    s.expired = s.owner && (!s.until_micros || *s.until_micros < now);
    return s;
}

}  // namespace

std::vector<JobState> JobLeases::list() {
    const std::int64_t now = now_micros();
    std::vector<JobState> out;
    const PortableSql sql{[](const Dialect& d) {
                              return fmt::format(
                                  "SELECT name, owner, lease_until, version, last_run_at FROM {} ORDER BY name",
                                  d.quote(k_jobs_table));
                          },
                          {}};
    for (const auto& row : m_conn.query(sql)) out.push_back(job_state(row, now));
    return out;
}

std::optional<JobState> JobLeases::get(std::string_view name) {
    const std::int64_t now = now_micros();
    const Value key[] = {Value::text(std::string(name))};
    const PortableSql sql{[](const Dialect& d) {
                              return fmt::format(
                                  "SELECT name, owner, lease_until, version, last_run_at FROM {} "
                                  "WHERE name = {}",
                                  d.quote(k_jobs_table), d.placeholder(1));
                          },
                          {}};
    auto row = m_conn.query_one(sql, key);
    if (!row) return std::nullopt;
    return job_state(*row, now);
}

LeaseGuard::~LeaseGuard() {
    if (m_released) return;
    try {
        if (!m_leases.release(m_lease))
            logger().warn("job {}: the lease was already taken over when releasing it", m_lease.name);
    } catch (const Error& e) {
        logger().warn("job {}: could not release the lease (it expires at {}): {}", m_lease.name,
                      format_datetime(m_lease.until_micros), e.what());
    }
}

bool LeaseGuard::release_completed() {
    m_released = true;
    return m_leases.release(m_lease, RunCompleted::yes);
}

}  // namespace webook
