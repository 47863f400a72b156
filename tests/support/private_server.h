// A MariaDB or PostgreSQL server of a test's own, for fault tests that stop,
// crash and restart a real server without disturbing the shared servers
// scripts/services.sh started (other tests use those in parallel).
//
// The constructor initialises a data directory under $TMPDIR (default /tmp),
// starts the server on a free loopback port and sets it up like services.sh:
// a user `webook` with the password from WEBOOKCTL_PASSWORD (default
// "webook-Pw-7f3a") and the databases `webook` and `webook_target` (MariaDB
// utf8mb4 / utf8mb4_unicode_ci; PostgreSQL UTF8, C.UTF-8, owned by webook).
// PostgreSQL's binaries are taken from $WEBOOK_PG_BIN or else the highest
// /usr/lib/postgresql/*/bin, as services.sh does. Settings are small (MariaDB:
// 64 MB buffer pool; PostgreSQL: 32 MB shared buffers) and skip fsync, yet
// every commit is written to the OS before it returns, so a committed row
// survives kill_hard() (a process crash, not a machine crash).
//
// The port stays the same across stop()/start(): it is reserved for the
// object's lifetime by a socket bound to it (SO_REUSEADDR, never listening),
// which the server's own SO_REUSEADDR socket may share, while outgoing
// connections, port-0 binds (other private servers) and plain binds cannot
// take it while the server is down.
//
// MariaDB runs as a child of the test process (mariadbd, detached in its own
// session); PostgreSQL as the postgres user, started with pg_ctl. The
// destructor kills the server and removes the data directory; servers and
// directories left by a test process that was itself killed are removed by
// the next process that creates a PrivateServer (their names carry the
// creator's pid).
//
// Errors: the constructor, start(), stop() and kill_hard() throw
// std::runtime_error naming the step, with the server log's last lines --
// a missing binary or a server that does not come up within 30 s fails the
// test; it is never skipped.
//
// Not thread-safe: one thread drives a PrivateServer. Connections from
// several threads are fine.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "core/db/db.h"
#include "core/db/dsn.h"

namespace webook::testing {

class PrivateServer {
public:
    // Initialises, starts and sets up the server. Throws std::runtime_error.
    // Measured on 2 cores, MariaDB / PostgreSQL: 0.7-2 s / 0.7-2.3 s (up to
    // 10 s / 4.4 s under heavy load), mostly mariadb-install-db / initdb.
    // Then restart() 0.14-0.2 s / 0.25 s, kill_hard() 10-30 ms, start()
    // after kill_hard() 0.09-0.18 s / 0.12-0.24 s.
    explicit PrivateServer(Engine engine);
    // Kills the server (no clean shutdown: the data goes too) and removes
    // the data directory. Never throws.
    ~PrivateServer();
    PrivateServer(PrivateServer&&) noexcept;
    PrivateServer& operator=(PrivateServer&&) noexcept;  // kills the server it held
    PrivateServer(const PrivateServer&) = delete;
    PrivateServer& operator=(const PrivateServer&) = delete;

    Engine engine() const;
    // The loopback port, the same for the object's lifetime.
    int port() const;
    // Whether the server was started and not since stopped or killed.
    bool running() const;

    // For connect(): 127.0.0.1:port(), user webook, the password filled in.
    Dsn dsn(std::string database = "webook") const;
    // "mysql://webook@127.0.0.1:PORT/db" (postgres://...) without the
    // password: for the CLI, which reads it from WEBOOKCTL_*_PASSWORD as
    // services.env exports it.
    std::string url(std::string database = "webook") const;
    // connect(dsn(database)); throws webook::Error like connect().
    std::unique_ptr<Connection> connect(std::string database = "webook") const;

    // A clean, fast shutdown (MariaDB: SIGTERM; PostgreSQL: pg_ctl -m fast,
    // which disconnects clients); returns once the server is gone. Open
    // connections fail on their next use with Error(Code::connection,
    // Temporary::yes); a PostgreSQL one may reconnect itself on a later use
    // once the server is back (libpqxx 6.4). No-op when not running.
    void stop();
    // Starts the server again on the same port and data directory; returns
    // once it accepts connections (after crash recovery, if it was killed).
    // No-op when running.
    void start();
    // stop() then start().
    void restart();
    // A crash: SIGKILL to the server's every process; returns once they are
    // gone. No-op when not running.
    void kill_hard();

    // The last `lines` lines of the server's log, for failure messages.
    std::string log_tail(std::size_t lines = 20) const;

    // The engine's implementation, defined in private_server.cpp.
    class Impl;

private:
    std::unique_ptr<Impl> m_impl;
};

}  // namespace webook::testing
