#include "migrate/double_write.h"

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/dialect.h"
#include "core/migration/checkpoint.h"

namespace webook {
namespace {

constexpr const char* k_failures_row = "second_side_failures";
// After a side failed to answer, it is not tried again for this long: a
// stopped target must not add a connect timeout to every user write.
constexpr auto k_retry_after = std::chrono::seconds(1);

bool double_writes(Mode m) {
    return m == Mode::src_first || m == Mode::dst_first;
}

bool target_first(Mode m) {
    return m == Mode::dst_first || m == Mode::dst_only;
}

// One side: its connection, opened lazily and dropped after a connection
// failure so the next use reconnects.
class Side {
public:
    Side(ConnectionFactory factory, const char* name) : m_factory(std::move(factory)), m_name(name) {}

    // The second side rests after a lost connection (its failures are only
    // counted); the first side always tries, since the user's write needs it.
    enum class Use { first, second };

    Connection& get(Use use = Use::first) {
        if (!m_conn) {
            if (use == Use::second && std::chrono::steady_clock::now() < m_quiet_until)
                throw Error(Code::connection, fmt::format("the {} is unreachable (retrying shortly)", m_name),
                            Temporary::yes);
            try {
                m_conn = m_factory();
            } catch (const Error&) {
                m_quiet_until = std::chrono::steady_clock::now() + k_retry_after;
                throw;
            }
        }
        return *m_conn;
    }

    // After an error: a lost connection is dropped (and rested). A deadlock
    // or lock wait timeout (Code::server, temporary) leaves the connection
    // usable: the caller rolls back and may retry at once. Without an open
    // connection the error came from get() itself -- a failed connect, which
    // already set the rest, or the rest -- and must not extend the rest: with
    // steady traffic that would keep the side away for good.
    void after_failure(const Error& e) {
        if (e.code() == Code::connection && m_conn) {
            m_conn.reset();
            m_quiet_until = std::chrono::steady_clock::now() + k_retry_after;
        }
    }

    bool open() const { return m_conn != nullptr; }
    const char* name() const { return m_name; }

private:
    ConnectionFactory m_factory;
    const char* m_name;
    std::unique_ptr<Connection> m_conn;
    std::chrono::steady_clock::time_point m_quiet_until{};
};

class DoubleWriteConnection final : public Connection {
public:
    DoubleWriteConnection(DoubleWriteSides sides, DoubleWriteCounters& counters)
        : m_source(std::move(sides.source), "source"),
          m_target(std::move(sides.target), "target"),
          m_control(ControlFactories{std::move(sides.control), std::move(sides.control_target)}.open()),
          m_counters(counters),
          m_dialect(&dialect_for(sides.source_engine)),
          m_same_engine(sides.source_engine == sides.target_engine),
          m_describe(fmt::format("double-write({} -> {})", engine_name(sides.source_engine),
                                 engine_name(sides.target_engine))) {}

    ~DoubleWriteConnection() override {
        if (m_fence) {
            try {
                rollback();
            } catch (const std::exception&) {
            }
        }
    }

    const Dialect& dialect() const override { return *m_dialect; }
    const std::string& describe() const override { return m_describe; }

    ExecResult execute(std::string_view sql, Params params) override { return execute(plain(sql), params); }

    std::unique_ptr<RowCursor> stream(std::string_view sql, Params params) override {
        return stream(plain(sql), params);
    }

    ExecResult execute(const PortableSql& sql, Params params) override {
        ++m_counters.writes;
        if (m_fence) return write_in_transaction(sql, params);
        auto fence = std::make_unique<ModeFence>(m_control);
        if (double_writes(fence->mode())) {
            // A statement on its own is a transaction of one on both sides: the
            // first side's row locks are held until the second side has applied
            // it, so two writers of one row apply it in the same order on both
            // sides. (Two autocommits could interleave: A on the first side, B
            // on the first, B on the second, A on the second -- A's value would
            // win on the second side and B's on the first.)
            start_transaction(std::move(fence));
            ExecResult result;
            try {
                result = write_in_transaction(sql, params);
            } catch (...) {
                rollback();
                throw;
            }
            commit();
            return result;
        }
        Side& first = first_side(fence->mode());
        ExecResult result;
        try {
            result = first.get().execute(sql, params);
        } catch (const Error& e) {
            first.after_failure(e);
            throw;
        }
        fence->release();
        return result;
    }

    std::unique_ptr<RowCursor> stream(const PortableSql& sql, Params params) override {
        const Mode mode = m_fence ? m_mode : get_mode(m_control).mode;
        Side& first = first_side(mode);
        try {
            return first.get().stream(sql, params);
        } catch (const Error& e) {
            first.after_failure(e);
            throw;
        }
    }

    void begin() override {
        if (m_fence) throw Error(Code::internal, "begin() inside a double-write transaction");
        start_transaction(std::make_unique<ModeFence>(m_control));
    }

    // begin() with the fence already held.
    void start_transaction(std::unique_ptr<ModeFence> fence) {
        m_fence = std::move(fence);
        m_mode = m_fence->mode();
        Side& first = first_side(m_mode);
        try {
            first.get().begin();
        } catch (const Error& e) {
            first.after_failure(e);
            m_fence.reset();
            throw;
        }
        m_second_ok = double_writes(m_mode);
        if (m_second_ok) {
            Side& second = second_side(m_mode);
            try {
                second.get(Side::Use::second).begin();
            } catch (const Error& e) {
                second_failed(second, PortableSql{{}, "begin"}, e);
            }
        }
    }

    // The second side commits first, while the first side's row locks still
    // hold: a writer the first side admits next (it waits for those locks)
    // then finds this transaction's rows committed on the second side too.
    // Committed the other way round, a second writer could run on the second
    // side between the two commits, where PostgreSQL's UPDATE neither sees
    // nor waits for a row inserted and not yet committed: an unlike would
    // match nothing there, and the target keep the like the source lost.
    // If the first commit then fails, the user's write fails and the second
    // side holds a write the first does not: a second-side failure, which
    // validation finds and the fixer repairs from the base.
    void commit() override {
        if (!m_fence) throw Error(Code::internal, "commit() without begin()");
        bool second_committed = false;
        if (m_second_ok) {
            Side& second = second_side(m_mode);
            try {
                second.get(Side::Use::second).commit();
                second_committed = true;
            } catch (const Error& e) {
                second_failed(second, PortableSql{{}, "commit"}, e);
            }
            m_second_ok = false;
        }
        Side& first = first_side(m_mode);
        try {
            first.get().commit();
        } catch (const Error& e) {
            first.after_failure(e);
            if (second_committed) {
                ++m_counters.second_side_failures;
                ++m_unrecorded_failures;
                log::get("double-write")
                    ->warn("the {} committed a write the {} then failed to commit: {}", second_side(m_mode).name(),
                           first.name(), e.what());
            }
            end_transaction();
            throw;
        }
        end_transaction();
    }

    void rollback() override {
        if (!m_fence) return;
        Side& first = first_side(m_mode);
        try {
            if (first.open()) first.get().rollback();
        } catch (const Error& e) {
            first.after_failure(e);
        }
        abandon_second();
        end_transaction();
    }

    std::vector<ColumnInfo> columns(std::string_view table) override {
        const Mode mode = m_fence ? m_mode : get_mode(m_control).mode;
        return first_side(mode).get().columns(table);
    }

    std::unique_ptr<BulkWriter> bulk_insert(std::string_view, const std::vector<std::string>&) override {
        throw Error(Code::internal, "bulk loads do not go through the double-write connection: use migrate copy");
    }

private:
    PortableSql plain(std::string_view sql) const {
        if (!m_same_engine) throw Error(Code::internal, "plain SQL cannot run on two engines at once: use PortableSql");
        return PortableSql{[text = std::string(sql)](const Dialect&) { return text; }, {}};
    }

    Side& first_side(Mode m) { return target_first(m) ? m_target : m_source; }
    Side& second_side(Mode m) { return target_first(m) ? m_source : m_target; }

    ExecResult write_in_transaction(const PortableSql& sql, Params params) {
        Side& first = first_side(m_mode);
        ExecResult result;
        try {
            result = first.get().execute(sql, params);
        } catch (const Error& e) {
            first.after_failure(e);
            throw;
        }
        if (m_second_ok) {
            Side& second = second_side(m_mode);
            try {
                second.get(Side::Use::second).execute(sql, params);
            } catch (const Error& e) {
                second_failed(second, sql, e);
            }
        }
        return result;
    }

    void second_failed(Side& side, const PortableSql& sql, const Error& e) {
        ++m_counters.second_side_failures;
        ++m_unrecorded_failures;
        log::get("double-write")
            ->warn("second-side write to the {} failed{}: {}", side.name(),
                   sql.what.empty() ? "" : " (" + sql.what + ")", e.what());
        side.after_failure(e);
        if (m_fence && m_second_ok) {
            m_second_ok = false;  // the rest of this transaction skips the second side
            try {
                if (side.open()) side.get().rollback();
            } catch (const Error&) {
                side.after_failure(e);
            }
        }
    }

    void abandon_second() {
        if (!m_second_ok) return;
        m_second_ok = false;
        Side& second = second_side(m_mode);
        try {
            if (second.open()) second.get().rollback();
        } catch (const Error& e) {
            second.after_failure(e);
        }
    }

    void end_transaction() {
        flush_failure_count();  // inside the fence: a switch's gate sees it (gates.h)
        try {
            if (m_fence) m_fence->release();
        } catch (const Error& e) {
            m_control.failed(m_fence->place(), e);
        }
        m_fence.reset();
        flush_failure_count();
    }

    // Second-side failures are counted in the control table that holds the
    // mode, before the fence is released, so a switch waiting for this writer
    // sees them when it checks its gate ("a clean pass since the last
    // failure"); counted later (with the next fence, or where the last one
    // was) if that fails.
    void flush_failure_count() {
        if (m_unrecorded_failures == 0) return;
        const bool fenced = m_fence && m_fence->held();
        const ControlPlace place = fenced ? m_fence->place() : m_control.last_home();
        try {
            record_second_side_failures(fenced ? m_fence->session() : m_control.at(place), m_unrecorded_failures);
            m_unrecorded_failures = 0;
        } catch (const Error& e) {
            if (!fenced) m_control.failed(place, e);  // the fence's session goes when it is released
            log::get("double-write")->debug("could not record second-side failures: {}", e.what());
        }
    }

    Side m_source, m_target;
    ControlRows m_control;
    DoubleWriteCounters& m_counters;
    const Dialect* m_dialect;  // the source's, for plain SQL when both engines match
    bool m_same_engine;
    std::string m_describe;
    std::unique_ptr<ModeFence> m_fence;  // held between begin() and commit()/rollback()
    Mode m_mode = Mode::src_only;
    bool m_second_ok = false;  // the second side takes part in this transaction
    std::uint64_t m_unrecorded_failures = 0;
};

}  // namespace

std::unique_ptr<Connection> make_double_write(DoubleWriteSides sides, DoubleWriteCounters& counters) {
    if (!sides.source || !sides.target || !sides.control)
        throw Error(Code::internal, "a double-write connection needs source, target and control factories");
    return std::make_unique<DoubleWriteConnection>(std::move(sides), counters);
}

ConnectionFactory authoritative_side(DoubleWriteSides sides) {
    if (!sides.source || !sides.target || !sides.control)
        throw Error(Code::internal, "the authoritative side needs source, target and control factories");
    return [sides = std::move(sides)] {
        ControlRows control = sides.control_factories().open();
        return base_side_of(get_mode(control).mode) == BaseSide::dst ? sides.target() : sides.source();
    };
}

void record_second_side_failures(Connection& control, std::uint64_t n) {
    const Dialect& d = control.dialect();
    std::vector<Value> params{Value::integer(static_cast<std::int64_t>(n)), Value::text(k_failures_row)};
    auto r = control.execute(fmt::format("UPDATE {} SET version = version + {}, utime = {} WHERE name = {}",
                                         d.quote(k_control_table), d.placeholder(1), d.now(), d.placeholder(2)),
                             params);
    if (r.affected_rows == 0) {  // a control table from before the row existed
        ensure_mode_row(control);
        control.execute(fmt::format("UPDATE {} SET version = version + {}, utime = {} WHERE name = {}",
                                    d.quote(k_control_table), d.placeholder(1), d.now(), d.placeholder(2)),
                        params);
    }
}

std::uint64_t second_side_failures(Connection& control) {
    return read_second_side_failures(control).count;
}

SecondSideFailures read_second_side_failures(Connection& control) {
    const Dialect& d = control.dialect();
    std::vector<Value> params{Value::text(k_failures_row)};
    auto row = control.query_one(
        fmt::format("SELECT version, utime FROM {} WHERE name = {}", d.quote(k_control_table), d.placeholder(1)),
        params);
    SecondSideFailures f;
    if (!row) return f;
    f.count = static_cast<std::uint64_t>((*row)[0].as_int());
    if (f.count > 0 && !(*row)[1].is_null()) f.last_us = (*row)[1].micros();
    return f;
}

}  // namespace webook
