// Prometheus text-format metrics for node_exporter's textfile collector.
//
// A cron job passes --metrics-file /var/lib/node_exporter/webookctl.prom;
// the file is written whole to a temporary name and renamed, so the
// collector never reads half a file.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace webook {

class MetricsFile {
public:
    // HELP/TYPE once per metric name; labels as given.
    void gauge(const std::string& name, const std::string& help, const std::map<std::string, std::string>& labels,
               double value);
    // Throws Error(Code::config) when the file cannot be written.
    void write(const std::string& path) const;
    std::string text() const;

private:
    struct Sample {
        std::map<std::string, std::string> labels;
        double value;
    };
    struct Metric {
        std::string help;
        std::vector<Sample> samples;
    };
    std::vector<std::string> m_order;
    std::map<std::string, Metric> m_metrics;
};

}  // namespace webook
