// webook-bench-stream: reads a whole table through the database layer and
// reports rows/s and peak RSS, to show that streaming keeps memory flat.
//
// usage: webook-bench-stream DSN TABLE [BATCH_ROWS]
//        webook-bench-stream --query DSN SQL [BATCH_ROWS]
//        webook-bench-stream --checksum-sql DSN TABLE
//        webook-bench-stream --reconcile-sql DSN FROM TO
//   --query streams any query instead of a whole table. --checksum-sql
//   prints the whole-table checksum query that validate --checksum runs per
//   chunk, for measuring the hash limit with the servers' own clients.
//   --reconcile-sql prints the three range queries ops reconcile streams for
//   the window [FROM, TO) (UTC times), one a line, for measuring its stream
//   limit. The password comes from WEBOOKCTL_PASSWORD.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/base/error.h"
#include "core/db/db.h"
#include "core/db/dialect.h"
#include "core/migration/table_plan.h"
#include "platform/reconcile.h"
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
        if (std::string(argv[1]) == "--reconcile-sql" && argc == 5) {
            webook::Dsn dsn = webook::Dsn::parse(argv[2]);
            const auto at = [](const char* text) {
                return webook::Value::parse(webook::ValueKind::datetime, text).micros();
            };
            const webook::RangeQueries q = webook::range_queries(webook::dialect_for(dsn.engine),
                                                                 webook::reward_id_range(at(argv[3]), at(argv[4])));
            std::printf("%s\n%s\n%s\n", q.rewards.c_str(), q.payments.c_str(), q.entries.c_str());
            return 0;
        }
        const bool query = std::string(argv[1]) == "--query";
        if (query && argc < 4) {
            std::fprintf(stderr, "usage: webook-bench-stream --query DSN SQL [BATCH_ROWS]\n");
            return 2;
        }
        const int first = query ? 2 : 1;
        webook::Dsn dsn = webook::Dsn::parse(argv[first]);
        webook::resolve_password(dsn, webook::DsnRole::any);
        auto conn = webook::connect(dsn);
        const std::size_t batch = argc > first + 2 ? std::strtoul(argv[first + 2], nullptr, 10) : 10000;
        const std::string sql =
            query ? std::string(argv[first + 1]) : "SELECT * FROM " + conn->dialect().quote(argv[2]);
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
