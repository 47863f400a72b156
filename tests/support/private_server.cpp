#include "tests/support/private_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/base/log.h"
#include "core/base/secrets.h"
#include "tests/support/child_process.h"

namespace webook::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr auto k_ready_timeout = 30s;                         // a server not up (or down) by then fails the test
constexpr auto k_tool_timeout = 120s;                         // mariadb-install-db, initdb, the SQL clients
constexpr const char* k_default_password = "webook-Pw-7f3a";  // scripts/services.sh's
constexpr const char* k_user = "webook";
constexpr const char* k_mariadbd = "/usr/sbin/mariadbd";
constexpr std::string_view k_dir_prefix = "webook_private_";  // ScratchDir adds "webook_"

[[noreturn]] void fail(const std::string& what) {
    throw std::runtime_error("private server: " + redact(what));
}

std::string errno_text(const std::string& call) {
    return call + ": " + std::strerror(errno);
}

class Fd {
public:
    explicit Fd(int fd) : m_fd(fd) {}
    ~Fd() {
        if (m_fd >= 0) ::close(m_fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return m_fd; }

private:
    int m_fd;
};

sockaddr_in loopback(int port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    return addr;
}

// Holds a loopback port for the server (see the header): bound with
// SO_REUSEADDR, never listening.
class PortReservation {
public:
    PortReservation() : m_socket(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
        if (m_socket.get() < 0) fail(errno_text("socket"));
        const int on = 1;
        if (::setsockopt(m_socket.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0)
            fail(errno_text("setsockopt(SO_REUSEADDR)"));
        sockaddr_in addr = loopback(0);
        if (::bind(m_socket.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            fail(errno_text("bind(127.0.0.1:0)"));
        socklen_t len = sizeof addr;
        if (::getsockname(m_socket.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
            fail(errno_text("getsockname"));
        m_port = ntohs(addr.sin_port);
    }
    int port() const { return m_port; }

private:
    Fd m_socket;
    int m_port = 0;
};

// The last `lines` lines of `text`.
std::string last_lines(std::string_view text, std::size_t lines) {
    std::size_t start = text.size();
    if (start > 0 && text[start - 1] == '\n') --start;
    std::size_t seen = 0;
    while (start > 0) {
        if (text[start - 1] == '\n' && ++seen == lines) break;
        --start;
    }
    return std::string(text.substr(start));
}

// argv[0] for execv: `name` on $PATH or in the sbin directories root's PATH
// usually has; "" if not found.
std::string find_program(const std::string& name) {
    std::string dirs = std::getenv("PATH") != nullptr ? std::getenv("PATH") : "";
    dirs += ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    std::size_t from = 0;
    while (from <= dirs.size()) {
        const std::size_t colon = std::min(dirs.find(':', from), dirs.size());
        const std::string dir = dirs.substr(from, colon - from);
        from = colon + 1;
        if (dir.empty() || dir[0] != '/') continue;
        const std::string path = dir + "/" + name;
        if (::access(path.c_str(), X_OK) == 0) return path;
    }
    return {};
}

std::string require_program(const std::string& name) {
    std::string path = find_program(name);
    if (path.empty()) fail(name + " not found (run scripts/setup.sh)");
    return path;
}

// Runs a setup tool; throws with its output when it fails.
void run_tool(std::vector<std::string> argv, const std::string& what) {
    CommandResult r;
    try {
        r = run_command(std::move(argv), k_tool_timeout);
    } catch (const std::exception& e) {
        fail(what + ": " + e.what());
    }
    if (r.exit_code != 0)
        fail(what + " failed (exit " + std::to_string(r.exit_code) + "):\n" + last_lines(r.out + r.err, 20));
}

// A string literal for SQL; MariaDB also treats backslashes as escapes.
std::string sql_literal(std::string_view text, Engine engine) {
    std::string out = "'";
    for (char c : text) {
        if (c == '\'') out += '\'';
        if (c == '\\' && engine == Engine::mysql) out += '\\';
        out += c;
    }
    return out + "'";
}

// --- processes ---------------------------------------------------------------

std::string proc_file(pid_t pid, const char* name) {
    return read_file("/proc/" + std::to_string(pid) + "/" + name);
}

// Gone or a zombie: a zombie holds no port, file lock or shared memory, so a
// restart need not wait for whoever reaps it.
bool process_gone(pid_t pid) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
    const std::string stat = proc_file(pid, "stat");
    const std::size_t close = stat.rfind(')');
    return close == std::string::npos || (close + 2 < stat.size() && stat[close + 2] == 'Z');
}

std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> out;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
        const std::string name = entry.path().filename();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        const std::string stat = read_file(entry.path() / "stat");
        const std::size_t close = stat.rfind(')');
        if (close == std::string::npos || close + 4 >= stat.size()) continue;
        // ") S PPID ..."
        if (std::atoi(stat.c_str() + close + 4) == parent) out.push_back(static_cast<pid_t>(std::stol(name)));
    }
    return out;
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
    return true;
}

// The first line of a pid file (postmaster.pid, mysqld.pid); 0 if unreadable.
pid_t read_pid_file(const std::string& path) {
    return static_cast<pid_t>(std::atol(read_file(path).c_str()));
}

// SIGKILLs a postmaster and every backend at once, as a crash would: the
// postmaster is frozen first so that it can neither fork nor react to its
// children's deaths. Throws if they are not gone within the timeout.
void kill_postmaster(pid_t postmaster) {
    if (postmaster <= 0 || process_gone(postmaster)) return;
    ::kill(postmaster, SIGSTOP);
    std::vector<pid_t> pids = children_of(postmaster);
    pids.push_back(postmaster);
    for (pid_t pid : pids) ::kill(pid, SIGKILL);
    const bool gone = wait_until(
        [&] {
            for (pid_t pid : pids)
                if (!process_gone(pid)) return false;
            return true;
        },
        k_ready_timeout);
    if (!gone) fail("PostgreSQL processes of postmaster " + std::to_string(postmaster) + " still there after SIGKILL");
}

// Frees what a PostgreSQL cluster whose processes are all gone still holds,
// as named in its postmaster.pid (line 4 port, 5 socket directory, 7 shared
// memory key and id): the System V interlock segment, if nothing is attached,
// and the lock files, which a restart would otherwise refuse while the dead
// postmaster is an unreaped zombie (kill(pid, 0) cannot tell it from a live
// one). Shared memory proper is anonymous and the dynamic segments are files
// in the data directory (dynamic_shared_memory_type = mmap), so nothing is
// left in /dev/shm.
void release_dead_cluster(const std::string& data_dir) {
    const std::string pid_file = data_dir + "/postmaster.pid";
    std::vector<std::string> lines;
    std::istringstream in(read_file(pid_file));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    if (lines.size() >= 7) {
        unsigned long key = 0;
        long id = -1;
        std::istringstream(lines[6]) >> key >> id;
        shmid_ds info{};
        if (id >= 0 && ::shmctl(static_cast<int>(id), IPC_STAT, &info) == 0 &&
            static_cast<unsigned long>(info.shm_perm.__key) == key && info.shm_nattch == 0)
            ::shmctl(static_cast<int>(id), IPC_RMID, nullptr);
    }
    if (lines.size() >= 5 && !lines[4].empty()) ::unlink((lines[4] + "/.s.PGSQL." + lines[3] + ".lock").c_str());
    ::unlink(pid_file.c_str());
}

// Starts argv in a session of its own (no terminal signals, not tied to a
// ChildProcess), stdout and stderr appended to `output`.
pid_t spawn_detached(std::vector<std::string> argv, const std::string& output) {
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    const char* out_path = output.c_str();
    const pid_t pid = ::fork();
    if (pid < 0) fail(errno_text("fork"));
    if (pid == 0) {
        // Only async-signal-safe calls from here on.
        ::setsid();
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        const int in_fd = ::open("/dev/null", O_RDONLY);
        const int out_fd = ::open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (in_fd < 0 || out_fd < 0) ::_exit(127);
        ::dup2(in_fd, 0);
        ::dup2(out_fd, 1);
        ::dup2(out_fd, 2);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    return pid;
}

// Whether a server accepts TCP connections on 127.0.0.1:port. With
// `greeting`, also that it says something first (MySQL's handshake packet),
// i.e. that its accept loop runs. (MariaDB logs each probe as an aborted,
// unauthenticated connection: one harmless warning per start.)
bool accepts_connections(int port, bool greeting) {
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s.get() < 0) return false;
    sockaddr_in addr = loopback(port);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
    if (!greeting) return true;
    pollfd p{s.get(), POLLIN, 0};
    char byte = 0;
    return ::poll(&p, 1, 1000) == 1 && ::recv(s.get(), &byte, 1, 0) == 1;
}

// "exit 1" / "signal 9" from a wait status.
std::string describe_status(int status) {
    if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
    return "status " + std::to_string(status);
}

// --- leftovers ---------------------------------------------------------------

// Servers and data directories of test processes that were killed before
// their destructors ran, once per process. A server is only killed if its
// command line names the directory (a pid file may be stale and its pid
// reused).
void remove_leftovers() {
    static std::once_flag once;
    std::call_once(once, [] {
        const char* tmp = std::getenv("TMPDIR");
        const fs::path base = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator(base, ec)) {
            const std::string name = entry.path().filename();
            if (!name.starts_with(k_dir_prefix)) continue;
            // webook_private_<engine>_<pid>_<n>
            const std::size_t last = name.rfind('_');
            const std::size_t before = last == std::string::npos || last == 0 ? last : name.rfind('_', last - 1);
            if (before == std::string::npos) continue;
            const pid_t creator = static_cast<pid_t>(std::atol(name.c_str() + before + 1));
            if (creator <= 0 || creator == ::getpid() || !process_gone(creator)) continue;
            const std::string dir = entry.path().string();
            // The server, if its pid file names a live process started on
            // this directory.
            auto ours = [&](const std::string& pid_file) -> pid_t {
                const pid_t pid = read_pid_file(pid_file);
                if (pid <= 0 || process_gone(pid)) return 0;
                return proc_file(pid, "cmdline").find(dir + "/") == std::string::npos ? 0 : pid;
            };
            try {
                if (const pid_t mariadbd = ours(dir + "/mysqld.pid")) {
                    ::kill(mariadbd, SIGKILL);
                    wait_until([&] { return process_gone(mariadbd); }, k_ready_timeout);
                }
                if (fs::exists(dir + "/data/postmaster.pid")) {
                    kill_postmaster(ours(dir + "/data/postmaster.pid"));
                    release_dead_cluster(dir + "/data");
                }
                fs::remove_all(dir);
            } catch (const std::exception& e) {
                log::get("test")->warn("could not remove the leftover private server in {}: {}", dir, e.what());
            }
        }
    });
}

std::string password_from_env() {
    const char* v = std::getenv("WEBOOKCTL_PASSWORD");
    return v != nullptr && *v != '\0' ? v : k_default_password;
}

}  // namespace

// What both engines share: the directory, the port, the password, the state.
// Each engine's constructor initialises and starts its server; its destructor
// kills it, before the directory goes.
class PrivateServer::Impl {
public:
    Impl(Engine engine, std::string password)
        : m_engine(engine), m_dir("private_" + std::string(engine_name(engine))), m_password(std::move(password)) {}
    virtual ~Impl() = default;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    virtual void start() = 0;
    virtual void stop() = 0;
    virtual void kill_hard() = 0;
    virtual std::string log_path() const = 0;

    Engine engine() const { return m_engine; }
    int port() const { return m_port.port(); }
    bool running() const { return m_running; }
    const std::string& password() const { return m_password; }
    std::string log_tail(std::size_t lines) const { return last_lines(read_file(log_path()), lines); }

protected:
    [[noreturn]] void fail_with_log(const std::string& what) const {
        fail(what + "\n--- last lines of " + log_path() + " ---\n" + log_tail(20));
    }
    // For destructors and failed constructors: never throws.
    void kill_quietly() noexcept {
        try {
            kill_hard();
        } catch (const std::exception& e) {
            log::get("test")->warn("could not kill the private {} server on port {}: {}", engine_name(m_engine), port(),
                                   e.what());
        }
    }

    Engine m_engine;
    ScratchDir m_dir;
    PortReservation m_port;
    std::string m_password;
    bool m_running = false;
};

namespace {

// mariadbd as a child of this process: SIGTERM shuts it down cleanly,
// SIGKILL crashes it; waitpid() says when it is gone.
class MysqlServer final : public PrivateServer::Impl {
public:
    explicit MysqlServer(std::string password) : Impl(Engine::mysql, std::move(password)) {
        try {
            initialise();
            start();
            create_user_and_databases();
        } catch (...) {
            kill_quietly();
            throw;
        }
    }
    ~MysqlServer() override { kill_quietly(); }

    void start() override {
        if (m_running) return;
        m_pid = spawn_detached(server_argv(), m_dir.file("mariadbd.out"));
        m_running = true;
        const auto deadline = std::chrono::steady_clock::now() + k_ready_timeout;
        while (!accepts_connections(port(), true)) {
            if (auto status = try_reap())
                fail_with_log("mariadbd exited while starting (" + describe_status(*status) + ")");
            if (std::chrono::steady_clock::now() >= deadline) {
                kill_hard();
                fail_with_log("MariaDB did not accept connections on 127.0.0.1:" + std::to_string(port()) +
                              " within 30 s; killed");
            }
            std::this_thread::sleep_for(20ms);
        }
    }

    void stop() override {
        if (!m_running) return;
        ::kill(m_pid, SIGTERM);
        std::optional<int> status;
        wait_until([&] { return (status = try_reap()).has_value(); }, k_ready_timeout);
        if (!status) {
            kill_hard();
            fail_with_log("MariaDB did not shut down within 30 s of SIGTERM; killed");
        }
    }

    void kill_hard() override {
        if (!m_running) return;
        ::kill(m_pid, SIGKILL);
        int status = 0;
        while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
        }
        m_running = false;
    }

    std::string log_path() const override { return m_dir.file("error.log"); }

private:
    std::string data_dir() const { return m_dir.file("data"); }
    std::string socket() const { return m_dir.file("mysqld.sock"); }
    // Its own: a starting mariadbd deletes every #sql* file in its tmpdir,
    // which in a shared /tmp are other servers' temporary tables.
    std::string tmp_dir() const { return m_dir.file("tmp"); }

    // As scripts/services.sh starts the shared server, but small. Written to
    // the OS at each commit, never fsynced: a commit survives kill_hard().
    std::vector<std::string> server_argv() const {
        return {k_mariadbd,
                "--no-defaults",  // must come first
                "--user=root",
                "--datadir=" + data_dir(),
                "--tmpdir=" + tmp_dir(),
                "--socket=" + socket(),
                "--pid-file=" + m_dir.file("mysqld.pid"),
                "--port=" + std::to_string(port()),
                "--bind-address=127.0.0.1",
                "--skip-log-bin",
                "--skip-name-resolve",
                "--innodb-flush-log-at-trx-commit=2",
                "--innodb-buffer-pool-size=64M",
                "--innodb-log-file-size=48M",
                "--max-connections=100",
                "--character-set-server=utf8mb4",
                "--collation-server=utf8mb4_unicode_ci",
                "--local-infile=1",
                "--log-error=" + log_path()};
    }

    void initialise() {
        if (::access(k_mariadbd, X_OK) != 0) fail(std::string(k_mariadbd) + " not found (run scripts/setup.sh)");
        m_client = require_program("mariadb");
        fs::create_directories(tmp_dir());
        run_tool({require_program("mariadb-install-db"), "--no-defaults", "--user=root", "--datadir=" + data_dir(),
                  "--tmpdir=" + tmp_dir(), "--auth-root-authentication-method=normal", "--skip-test-db",
                  "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=48M"},
                 "mariadb-install-db");
    }

    // As scripts/services.sh does; root logs in over the socket.
    void create_user_and_databases() {
        const std::string password = sql_literal(m_password, Engine::mysql);
        std::string sql;
        for (const char* db : {"webook", "webook_target"})
            sql += std::string("CREATE DATABASE ") + db + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n";
        for (const char* host : {"%", "localhost"}) {
            const std::string account = std::string("'") + k_user + "'@'" + host + "'";
            sql += "CREATE USER " + account + " IDENTIFIED BY " + password + ";\n";
            sql += "GRANT ALL PRIVILEGES ON *.* TO " + account + ";\n";
        }
        sql += "FLUSH PRIVILEGES;\n";
        run_tool({m_client, "--no-defaults", "--socket=" + socket(), "-uroot", "-e", sql},
                 "creating the user and databases on MariaDB");
    }

    // The exit status once mariadbd has exited (then reaped, not running).
    std::optional<int> try_reap() {
        int status = 0;
        const pid_t r = ::waitpid(m_pid, &status, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) return std::nullopt;
        m_running = false;
        return status;
    }

    std::string m_client;
    pid_t m_pid = -1;
};

// PostgreSQL runs as the postgres user (initdb refuses root), started and
// stopped with pg_ctl; the postmaster is a daemon, known by postmaster.pid.
class PgServer final : public PrivateServer::Impl {
public:
    explicit PgServer(std::string password) : Impl(Engine::postgres, std::move(password)) {
        try {
            initialise();
            start();
            create_user_and_databases();
        } catch (...) {
            kill_quietly();
            throw;
        }
    }
    ~PgServer() override { kill_quietly(); }

    void start() override {
        if (m_running) return;
        const CommandResult r =
            run_as_postgres("pg_ctl", {"-D", data_dir(), "-l", log_path(), "-w", "-t", "30", "start"});
        m_postmaster = read_pid_file(data_dir() + "/postmaster.pid");
        if (r.exit_code != 0) {
            // It may be up but late, or half up: leave nothing behind.
            m_running = true;
            kill_hard();
            fail_with_log("PostgreSQL did not start on 127.0.0.1:" + std::to_string(port()) +
                          " within 30 s (pg_ctl: " + last_lines(r.out + r.err, 5) + ")");
        }
        if (m_postmaster <= 0) fail_with_log("pg_ctl start succeeded but postmaster.pid has no pid");
        m_running = true;
    }

    void stop() override {
        if (!m_running) return;
        const CommandResult r = run_as_postgres("pg_ctl", {"-D", data_dir(), "-m", "fast", "-w", "-t", "30", "stop"});
        if (r.exit_code != 0) {
            kill_hard();
            fail_with_log("pg_ctl stop failed; killed (pg_ctl: " + last_lines(r.out + r.err, 5) + ")");
        }
        m_running = false;
    }

    void kill_hard() override {
        if (!m_running) return;
        kill_postmaster(m_postmaster);
        release_dead_cluster(data_dir());
        m_running = false;
    }

    std::string log_path() const override { return m_dir.file("server.log"); }

private:
    std::string data_dir() const { return m_dir.file("data"); }

    std::vector<std::string> as_postgres(const std::string& tool, std::vector<std::string> args) const {
        std::vector<std::string> argv = {m_runuser, "-u", "postgres", "--", m_bin + "/" + tool};
        argv.insert(argv.end(), args.begin(), args.end());
        return argv;
    }

    CommandResult run_as_postgres(const std::string& tool, std::vector<std::string> args) const {
        try {
            return run_command(as_postgres(tool, std::move(args)), k_tool_timeout);
        } catch (const std::exception& e) {
            fail_with_log(tool + ": " + e.what());
        }
    }

    void initialise() {
        // The highest installed version, as scripts/services.sh picks it.
        const char* bin = std::getenv("WEBOOK_PG_BIN");
        m_bin = bin != nullptr && *bin != '\0' ? bin : highest_pg_bin();
        for (const char* tool : {"initdb", "pg_ctl", "postgres", "psql"})
            if (::access((m_bin + "/" + tool).c_str(), X_OK) != 0)
                fail("PostgreSQL's " + std::string(tool) + " not found in " + m_bin + " (run scripts/setup.sh)");
        m_runuser = require_program("runuser");
        const passwd* pw = ::getpwnam("postgres");
        if (pw == nullptr) fail("no user postgres (run scripts/setup.sh)");

        // The cluster belongs to postgres, who must be able to reach it.
        if (::chown(m_dir.path().c_str(), pw->pw_uid, pw->pw_gid) != 0) fail(errno_text("chown " + m_dir.path()));
        for (fs::path p = fs::path(m_dir.path()).parent_path(); p != p.root_path(); p = p.parent_path()) {
            struct stat st {};
            if (::stat(p.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) == 0) ::chmod(p.c_str(), st.st_mode | S_IXOTH);
        }

        // initdb wants a superuser password to set up password logins over TCP.
        const std::string pwfile = m_dir.file("pwfile");
        write_file(pwfile, m_password + "\n");
        if (::chown(pwfile.c_str(), pw->pw_uid, pw->pw_gid) != 0 || ::chmod(pwfile.c_str(), 0600) != 0)
            fail(errno_text("chown/chmod " + pwfile));
        const CommandResult r = run_as_postgres(
            "initdb", {"-D", data_dir(), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256",
                       "--pwfile=" + pwfile, "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"});
        ::unlink(pwfile.c_str());
        if (r.exit_code != 0) fail("initdb failed:\n" + last_lines(r.out + r.err, 20));

        // Later lines win over initdb's; pg_ctl start then needs no options.
        std::string conf = read_file(data_dir() + "/postgresql.conf");
        conf += "\n# webook PrivateServer (tests/support/private_server.cpp)\n";
        conf += "port = " + std::to_string(port()) + "\n";
        conf += "listen_addresses = '127.0.0.1'\n";
        conf += "unix_socket_directories = " + sql_literal(m_dir.path(), Engine::postgres) + "\n";
        conf += "max_connections = 100\n";
        conf += "shared_buffers = 32MB\n";
        // No fsync, but synchronous_commit stays on: each commit's WAL is
        // written to the OS before it returns, so it survives kill_hard().
        conf += "fsync = off\n";
        conf += "full_page_writes = off\n";
        conf += "synchronous_commit = on\n";
        // Dynamic shared memory as files in the data directory, not in
        // /dev/shm: nothing outlives the directory after a crash.
        conf += "dynamic_shared_memory_type = mmap\n";
        write_file(data_dir() + "/postgresql.conf", conf);
    }

    static std::string highest_pg_bin() {
        std::string best;
        int best_version = -1;
        std::error_code ec;
        for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
            const std::string version = entry.path().filename();
            const int v = std::atoi(version.c_str());
            if (v > best_version && fs::exists(entry.path() / "bin")) {
                best_version = v;
                best = (entry.path() / "bin").string();
            }
        }
        if (best.empty()) fail("no PostgreSQL under /usr/lib/postgresql (run scripts/setup.sh)");
        return best;
    }

    // As scripts/services.sh does; postgres logs in over the socket (trust).
    void create_user_and_databases() {
        const CommandResult r =
            run_as_postgres("psql", {"-X", "-q", "-h", m_dir.path(), "-p", std::to_string(port()), "-U", "postgres",
                                     "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c",
                                     std::string("CREATE ROLE ") + k_user + " LOGIN CREATEDB PASSWORD " +
                                         sql_literal(m_password, Engine::postgres),
                                     "-c", std::string("CREATE DATABASE webook OWNER ") + k_user, "-c",
                                     std::string("CREATE DATABASE webook_target OWNER ") + k_user});
        if (r.exit_code != 0)
            fail_with_log("creating the user and databases on PostgreSQL failed:\n" + last_lines(r.out + r.err, 20));
    }

    std::string m_bin;
    std::string m_runuser;
    pid_t m_postmaster = -1;
};

}  // namespace

PrivateServer::PrivateServer(Engine engine) {
    remove_leftovers();
    std::string password = password_from_env();
    register_secret(password);
    if (engine == Engine::mysql)
        m_impl = std::make_unique<MysqlServer>(std::move(password));
    else
        m_impl = std::make_unique<PgServer>(std::move(password));
}

PrivateServer::~PrivateServer() = default;
PrivateServer::PrivateServer(PrivateServer&&) noexcept = default;
PrivateServer& PrivateServer::operator=(PrivateServer&&) noexcept = default;

Engine PrivateServer::engine() const {
    return m_impl->engine();
}
int PrivateServer::port() const {
    return m_impl->port();
}
bool PrivateServer::running() const {
    return m_impl->running();
}

Dsn PrivateServer::dsn(std::string database) const {
    Dsn dsn = Dsn::parse(url(std::move(database)));
    dsn.password = m_impl->password();
    return dsn;
}

std::string PrivateServer::url(std::string database) const {
    return std::string(engine_name(engine())) + "://" + k_user + "@127.0.0.1:" + std::to_string(port()) + "/" +
           database;
}

std::unique_ptr<Connection> PrivateServer::connect(std::string database) const {
    return webook::connect(dsn(std::move(database)));
}

void PrivateServer::stop() {
    m_impl->stop();
}
void PrivateServer::start() {
    m_impl->start();
}
void PrivateServer::restart() {
    m_impl->stop();
    m_impl->start();
}
void PrivateServer::kill_hard() {
    m_impl->kill_hard();
}

std::string PrivateServer::log_tail(std::size_t lines) const {
    return m_impl->log_tail(lines);
}

}  // namespace webook::testing
