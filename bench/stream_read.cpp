// webook-bench-stream: reads a whole table through the database layer and
// reports rows/s and peak RSS, to show that streaming keeps memory flat.
//
// usage: webook-bench-stream DSN TABLE [BATCH_ROWS]
//        webook-bench-stream --checksum-sql DSN TABLE
//   The second form prints the whole-table checksum query that validate
//   --checksum runs per chunk, for measuring the hash limit with the
//   servers' own clients. The password comes from WEBOOKCTL_PASSWORD.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/db.h"
#include "core/dialect.h"
#include "core/error.h"
#include "core/table_plan.h"
#include "validate/checksum.h"

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: webook-bench-stream DSN TABLE [BATCH_ROWS]\n");
        return 2;
    }
    try {
        if (std::string(argv[1]) == "--checksum-sql" && argc == 4) {
            webook::Dsn dsn = webook::Dsn::parse(argv[2]);
            webook::resolve_password(dsn, webook::DsnRole::any);
            auto conn = webook::connect(dsn);
            webook::TableConfig table;
            table.name = argv[3];
            webook::TablePlan plan = webook::plan_table(*conn, *conn, table);
            std::printf("%s\n", webook::checksum_query(conn->dialect(), plan.source, {}).sql.c_str());
            return 0;
        }
        webook::Dsn dsn = webook::Dsn::parse(argv[1]);
        webook::resolve_password(dsn, webook::DsnRole::any);
        auto conn = webook::connect(dsn);
        const std::size_t batch = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 10000;
        const std::string sql = "SELECT * FROM " + conn->dialect().quote(argv[2]);
        const auto start = std::chrono::steady_clock::now();
        auto cursor = conn->stream(sql);
        std::vector<webook::Row> rows;
        std::uint64_t n = 0, bytes = 0;
        while (cursor->next_batch(rows, batch)) {
            n += rows.size();
            for (const auto& r : rows) bytes += r.size();
        }
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        rusage ru{};
        getrusage(RUSAGE_SELF, &ru);
        std::printf("rows=%llu seconds=%.3f rows_per_second=%.0f peak_rss_mb=%.1f\n",
                    static_cast<unsigned long long>(n), s, n / s, ru.ru_maxrss / 1024.0);
        return 0;
    } catch (const webook::Error& e) {
        std::fprintf(stderr, "webook-bench-stream: %s\n", e.what());
        return webook::exit_code_for(e.code());
    }
}
