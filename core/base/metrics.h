// Prometheus text-format metrics for node_exporter's textfile collector.
//
// A cron job passes --metrics-file /var/lib/node_exporter/webookctl.prom;
// the file is written whole to a temporary name and renamed, so the
// collector never reads half a file.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/base/clock.h"

namespace webook {

class MetricsFile {
public:
    using Labels = std::map<std::string, std::string>;
    // HELP/TYPE once per metric name; labels as given.
    void gauge(const std::string& name, const std::string& help, const Labels& labels, double value);
    // A count since the process started (a long-running command's); by
    // Prometheus convention its name ends in _total.
    void counter(const std::string& name, const std::string& help, const Labels& labels, double value);
    // A long-running command's two liveness gauges: `prefix`_up (1 while it
    // runs, 0 in the file it leaves) and `prefix`_heartbeat_timestamp_seconds
    // (now: alert when it stops moving).
    void liveness(const std::string& prefix, const Labels& labels, bool running);
    // Throws Error(Code::config) when the file cannot be written.
    void write(const std::string& path) const;
    std::string text() const;

private:
    struct Sample {
        std::map<std::string, std::string> labels;
        double value;
    };
    struct Metric {
        std::string type;
        std::string help;
        std::vector<Sample> samples;
    };
    void add(const char* type, const std::string& name, const std::string& help, const Labels& labels, double value);

    std::vector<std::string> m_order;
    std::map<std::string, Metric> m_metrics;
};

// Throws Error(Code::config) unless `path` can be written: its directory
// exists and is writable, and it is not a directory. Commands check their
// --metrics-file before they connect or write anything.
void check_metrics_path(const std::string& path);

// A long-running command's metrics file, rewritten at most once per
// `interval` while it runs (due()), and once more at its end (write()).
class MetricsWriter {
public:
    explicit MetricsWriter(std::string path, std::chrono::milliseconds interval = std::chrono::seconds(1),
                           Clock& clock = Clock::real());
    bool enabled() const { return !m_path.empty(); }  // an empty path writes nothing
    // True when enabled and `interval` has passed since the last write.
    bool due();
    void write(const MetricsFile& metrics);
    // On a command's way out after a failure or an interruption: builds and
    // writes the file, and a failure to do either is logged, never thrown,
    // so the error the command is ending with is the one reported.
    void write_after_failure(const std::function<MetricsFile()>& build) noexcept;

private:
    std::string m_path;
    std::chrono::milliseconds m_interval;
    Clock& m_clock;
    std::chrono::steady_clock::time_point m_last{};
    bool m_written = false;
};

// Rewrites a metrics file every `interval` from a thread of its own while it
// lives, for a command whose work is one long call (a table's copy): `build`
// runs on that thread, so it may read only what is safe to read there
// (atomics, data nothing changes meanwhile). A write that fails is logged,
// not thrown. Nothing runs when `writer` is not enabled.
class MetricsTicker {
public:
    MetricsTicker(MetricsWriter& writer, std::function<MetricsFile()> build,
                  std::chrono::milliseconds interval = std::chrono::seconds(5));
    ~MetricsTicker();
    MetricsTicker(const MetricsTicker&) = delete;
    MetricsTicker& operator=(const MetricsTicker&) = delete;

private:
    MetricsWriter& m_writer;
    std::function<MetricsFile()> m_build;
    std::chrono::milliseconds m_interval;
    std::mutex m_mutex;
    std::condition_variable m_stop_cv;
    bool m_stop = false;
    std::thread m_thread;
};

}  // namespace webook
