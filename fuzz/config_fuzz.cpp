// load_config_file (core/migration/config.h): the TOML file of --config /
// WEBOOKCTL_CONFIG. It reads only a path, so each input goes through one
// scratch file of this process. Refusals are Error(Code::config).
// Invariants of a loaded config: it validates again; every table has a valid,
// unique name and find_table() finds it; every DSN parses; the log level and
// format are ones the logger takes.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/base/error.h"
#include "core/db/dialect.h"
#include "core/db/dsn.h"
#include "core/migration/config.h"
#include "fuzz/fuzz_check.h"

namespace webook {
namespace {

using fuzz::require;

const std::string& scratch_path() {
    static const std::string path = [] {
        const char* dir = std::getenv("TMPDIR");
        std::string p = std::string(dir != nullptr && *dir != '\0' ? dir : "/tmp") + "/webook-config-fuzz-" +
                        std::to_string(::getpid()) + ".toml";
        std::atexit([] { std::remove(scratch_path().c_str()); });
        return p;
    }();
    return path;
}

void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) fuzz::finding("cannot write the scratch file " + path);
    if (size > 0 && std::fwrite(data, 1, size, f) != size) fuzz::finding("cannot write the scratch file " + path);
    std::fclose(f);
}

void check_loaded(const Config& config, const std::string& path) {
    require(config.config_path == path, "config_path is not the file read");
    config.validate();  // an Error here is a finding: run_input allows none past loading
    for (std::size_t i = 0; i < config.tables.size(); ++i) {
        const TableConfig& t = config.tables[i];
        require(valid_identifier(t.name), "a table with an invalid name");
        require(config.find_table(t.name) == &t, "find_table() does not find the table (or it is there twice)");
        for (const auto& k : t.key) require(valid_identifier(k), "an invalid key column");
    }
    for (const DatabaseConfig* db : {&config.source, &config.target, &config.control})
        if (!db->empty()) Dsn::parse(db->dsn);
}

}  // namespace
}  // namespace webook

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace webook;
    const std::string& path = scratch_path();
    write_file(path, data, size);
    fuzz::run_input({}, [&] {
        Config config;
        try {
            config = load_config_file(path);
        } catch (const Error& e) {
            fuzz::require(e.code() == Code::config, std::string("not a config error: ") + e.what());
            return;
        }
        check_loaded(config, path);
    });
    return 0;
}
