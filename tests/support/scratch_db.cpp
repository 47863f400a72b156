#include "tests/support/scratch_db.h"

#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <mutex>
#include <string>

#include "core/base/error.h"
#include "core/base/log.h"
#include "core/db/dialect.h"
#include "tests/support/test_env.h"

namespace webook::testing {
namespace {

constexpr std::string_view k_prefix = "wbt_";

// wbt_<tag>_<pid>_<n>: the pid, or 0 when the name is not ours.
pid_t creator_pid(std::string_view name) {
    if (!name.starts_with(k_prefix)) return 0;
    auto last = name.rfind('_');
    if (last == std::string_view::npos || last == 0) return 0;
    auto before = name.rfind('_', last - 1);
    if (before == std::string_view::npos) return 0;
    try {
        return static_cast<pid_t>(std::stol(std::string(name.substr(before + 1, last - before - 1))));
    } catch (...) {
        return 0;
    }
}

bool process_gone(pid_t pid) {
    return pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH;
}

std::string drop_sql(Engine engine, const std::string& quoted) {
    return engine == Engine::mysql ? "DROP DATABASE IF EXISTS " + quoted
                                   : "DROP DATABASE IF EXISTS " + quoted + " WITH (FORCE)";
}

// Drops databases whose creating test process no longer exists, once per
// process and engine.
void drop_leftovers(Connection& admin) {
    static std::mutex mutex;
    static bool done[2] = {false, false};
    const Engine engine = admin.dialect().engine();
    std::lock_guard lock(mutex);
    if (done[static_cast<int>(engine)]) return;
    done[static_cast<int>(engine)] = true;
    const std::string list =
        engine == Engine::mysql ? "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'wbt\\_%'"
                                : "SELECT datname FROM pg_database WHERE datname LIKE 'wbt\\_%'";
    for (const Row& r : admin.query(list)) {
        std::string name(r[0].as_string());
        if (!process_gone(creator_pid(name))) continue;
        try {
            admin.execute(drop_sql(engine, admin.dialect().quote(name)));
        } catch (const Error& e) {
            // Someone else's session in it (an autovacuum worker, a superuser's
            // psql): a later process drops it; this test's own database is unaffected.
            log::get("test")->warn("could not drop leftover scratch database {}: {}", name, e.what());
        }
    }
}

std::string lower_tag(std::string_view tag) {
    std::string out;
    for (char c : tag) {
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            out += c;
        else if (c >= 'A' && c <= 'Z')
            out += static_cast<char>(c - 'A' + 'a');
        if (out.size() >= 20) break;
    }
    return out.empty() ? "db" : out;
}

}  // namespace

ScratchDatabase::ScratchDatabase(Engine engine, std::string_view tag)
    : m_admin(engine == Engine::mysql ? mysql_dsn() : pg_dsn()), m_dsn(m_admin) {
    m_dsn.database = unique_name(std::string(k_prefix) + lower_tag(tag));
    auto admin = connect_to(m_admin);
    drop_leftovers(*admin);
    const std::string q = admin->dialect().quote(m_dsn.database);
    if (engine == Engine::mysql)
        admin->execute("CREATE DATABASE " + q + " CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
    else
        admin->execute("CREATE DATABASE " + q +
                       " TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' "
                       "LC_CTYPE 'C.UTF-8'");
}

ScratchDatabase::~ScratchDatabase() {
    try {
        auto admin = connect_to(m_admin);
        admin->execute(drop_sql(m_dsn.engine, admin->dialect().quote(m_dsn.database)));
    } catch (const std::exception& e) {
        // The next test process drops it (drop_leftovers); a destructor must not throw.
        log::get("test")->warn("could not drop scratch database {}: {}", m_dsn.database, e.what());
    }
}

std::unique_ptr<Connection> ScratchDatabase::connect() const {
    return connect_to(m_dsn);
}

}  // namespace webook::testing
