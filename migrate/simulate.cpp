#include "migrate/simulate.h"

#include <algorithm>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/interrupt.h"
#include "core/base/log.h"
#include "core/db/dialect.h"
#include "platform/article.h"
#include "platform/interactive.h"

namespace webook {
namespace {

enum class Op { read, like, unlike, collect, uncollect, get, save, publish };

constexpr std::pair<Op, int> k_mix[] = {
    {Op::read, 40},     {Op::like, 18}, {Op::unlike, 6}, {Op::collect, 8},
    {Op::uncollect, 3}, {Op::get, 15},  {Op::save, 6},   {Op::publish, 4},
};

const char* op_name(Op op) {
    switch (op) {
    case Op::read: return "read";
    case Op::like: return "like";
    case Op::unlike: return "unlike";
    case Op::collect: return "collect";
    case Op::uncollect: return "uncollect";
    case Op::get: return "get";
    case Op::save: return "save";
    case Op::publish: return "publish";
    }
    return "?";
}

// Published articles everyone may interact with: up to 2,000 of them,
// spread over the id range.
std::vector<std::int64_t> published_ids(Connection& conn) {
    PortableSql sql{[](const Dialect& d) {
                        return fmt::format("SELECT {} FROM {} WHERE {} = 2 ORDER BY {} LIMIT 2000", d.quote("id"),
                                           d.quote("published_articles"), d.quote("status"), d.quote("id"));
                    },
                    "published_articles"};
    std::vector<std::int64_t> ids;
    for (const auto& row : conn.query(sql)) ids.push_back(row[0].as_int());
    return ids;
}

struct WriterResult {
    std::map<std::string, OperationStats> by_operation;
    std::vector<double> latencies_ms;
    std::string first_failure;
};

class Writer {
public:
    Writer(int index, const SimulateOptions& options, std::vector<std::int64_t> shared_articles)
        : m_index(index),
          m_options(options),
          m_rng(options.seed * 1'000'003 + static_cast<std::uint64_t>(index)),
          m_articles(std::move(shared_articles)),
          m_author(options.author_base + index) {}

    void run(const ConnectionFactory& connect, std::chrono::steady_clock::time_point until, WriterResult& out) {
        std::unique_ptr<Connection> conn;
        std::vector<int> weights;
        for (auto [op, weight] : k_mix) weights.push_back(weight);
        std::discrete_distribution<int> pick(weights.begin(), weights.end());
        while (std::chrono::steady_clock::now() < until && !interrupted()) {
            const Op op = k_mix[pick(m_rng)].first;
            if (m_articles.empty() && op != Op::save && op != Op::publish) continue;
            const auto t0 = std::chrono::steady_clock::now();
            auto& stats = out.by_operation[op_name(op)];
            ++stats.count;
            try {
                if (!conn) conn = connect();
                perform(*conn, op);
            } catch (const Error& e) {
                ++stats.failed;
                if (out.first_failure.empty()) out.first_failure = fmt::format("{}: {}", op_name(op), e.what());
                log::get("simulate")->warn("writer {}: {} failed: {}", m_index, op_name(op), e.what());
                if (e.code() == Code::connection || e.is_temporary()) conn.reset();
            }
            out.latencies_ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        }
    }

private:
    std::int64_t any_article() {
        return m_articles[std::uniform_int_distribution<std::size_t>(0, m_articles.size() - 1)(m_rng)];
    }
    std::int64_t any_user() { return std::uniform_int_distribution<std::int64_t>(1, m_options.users)(m_rng); }

    void perform(Connection& conn, Op op) {
        InteractiveService interactions(conn);
        ArticleService articles(conn);
        switch (op) {
        case Op::read: interactions.read(any_article()); break;
        case Op::like: interactions.like(any_user(), any_article()); break;
        case Op::unlike: interactions.unlike(any_user(), any_article()); break;
        case Op::collect: interactions.collect(any_user(), any_article(), m_rng() % 4); break;
        case Op::uncollect: interactions.uncollect(any_user(), any_article()); break;
        case Op::get: interactions.get(any_article(), any_user()); break;
        case Op::save: {
            Draft draft;
            draft.author_id = m_author;
            if (!m_drafts.empty() && m_rng() % 2 == 0) draft.id = m_drafts[m_rng() % m_drafts.size()];
            draft.title = fmt::format("模拟 article {} by writer {} 🚀", m_rng() % 100000, m_index);
            draft.content = fmt::format("draft body {} {}", m_rng(), std::string(m_rng() % 400, 'x'));
            SaveResult r = articles.save(draft);
            if (r.created) m_drafts.push_back(r.id);
            break;
        }
        case Op::publish: {
            Draft draft;
            draft.author_id = m_author;
            if (!m_drafts.empty())
                draft.id = m_drafts[m_rng() % m_drafts.size()];
            else
                draft.title = fmt::format("published by writer {}", m_index);
            if (draft.id == 0) draft.content = "first version";
            SaveResult r = articles.publish(draft);
            if (r.created) m_drafts.push_back(r.id);
            m_articles.push_back(r.id);  // now others' reads and likes may land on it
            break;
        }
        }
    }

    int m_index;
    const SimulateOptions& m_options;
    std::mt19937_64 m_rng;
    std::vector<std::int64_t> m_articles;
    std::vector<std::int64_t> m_drafts;
    std::int64_t m_author;
};

double percentile(std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
    return sorted[i];
}

}  // namespace

void SimulateOptions::validate() const {
    if (writers < 1 || writers > 256) throw Error(Code::usage, "--writers must be between 1 and 256");
    if (duration.count() <= 0) throw Error(Code::usage, "--duration must be positive");
    if (users < 1) throw Error(Code::usage, "--users must be at least 1");
}

SimulateReport simulate(const ConnectionFactory& connect, const SimulateOptions& options,
                        const DoubleWriteCounters* counters) {
    options.validate();
    std::vector<std::int64_t> articles = with_context("listing published articles", [&] {
        auto conn = connect();
        return published_ids(*conn);
    });
    if (articles.empty())
        log::get("simulate")->warn("no published articles yet: traffic starts with saves and publishes");
    const std::uint64_t failures_before = counters ? counters->second_side_failures.load() : 0;
    const auto start = std::chrono::steady_clock::now();
    const auto until = start + options.duration;
    std::vector<WriterResult> results(static_cast<std::size_t>(options.writers));
    std::vector<std::thread> threads;
    for (int w = 0; w < options.writers; ++w)
        threads.emplace_back(
            [&, w] { Writer(w, options, articles).run(connect, until, results[static_cast<std::size_t>(w)]); });
    for (auto& t : threads) t.join();

    SimulateReport report;
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::vector<double> latencies;
    for (auto& r : results) {
        for (const auto& [name, s] : r.by_operation) {
            report.by_operation[name].count += s.count;
            report.by_operation[name].failed += s.failed;
            report.operations += s.count;
            report.failed += s.failed;
        }
        latencies.insert(latencies.end(), r.latencies_ms.begin(), r.latencies_ms.end());
        if (report.first_failure.empty()) report.first_failure = r.first_failure;
    }
    std::sort(latencies.begin(), latencies.end());
    double sum = 0;
    for (double l : latencies) sum += l;
    report.mean_ms = latencies.empty() ? 0 : sum / static_cast<double>(latencies.size());
    report.p50_ms = percentile(latencies, 0.50);
    report.p95_ms = percentile(latencies, 0.95);
    report.p99_ms = percentile(latencies, 0.99);
    report.ops_per_second = report.seconds > 0 ? static_cast<double>(report.operations) / report.seconds : 0;
    if (counters) report.second_side_failures = counters->second_side_failures.load() - failures_before;
    return report;
}

}  // namespace webook
