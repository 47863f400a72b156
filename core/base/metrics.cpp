#include "core/base/metrics.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "core/base/error.h"
#include "core/base/log.h"

namespace webook {
namespace {

std::string escape_label(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

}  // namespace

void MetricsFile::gauge(const std::string& name, const std::string& help, const Labels& labels, double value) {
    add("gauge", name, help, labels, value);
}

void MetricsFile::counter(const std::string& name, const std::string& help, const Labels& labels, double value) {
    add("counter", name, help, labels, value);
}

void MetricsFile::liveness(const std::string& prefix, const Labels& labels, bool running) {
    gauge(prefix + "_up", "1 while the command runs; 0 in the file it leaves when it ends", labels, running ? 1 : 0);
    gauge(prefix + "_heartbeat_timestamp_seconds", "When the command last wrote this file", labels,
          static_cast<double>(system_micros()) / 1e6);
}

void MetricsFile::add(const char* type, const std::string& name, const std::string& help, const Labels& labels,
                      double value) {
    auto [it, fresh] = m_metrics.try_emplace(name);
    if (fresh) {
        m_order.push_back(name);
        it->second.type = type;
        it->second.help = help;
    }
    it->second.samples.push_back({labels, value});
}

std::string MetricsFile::text() const {
    std::string out;
    for (const auto& name : m_order) {
        const Metric& m = m_metrics.at(name);
        out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, m.help, name, m.type);
        for (const auto& s : m.samples) {
            std::string labels;
            for (const auto& [k, v] : s.labels)
                labels += fmt::format("{}{}=\"{}\"", labels.empty() ? "" : ",", k, escape_label(v));
            out += fmt::format("{}{}{}{} {}\n", name, labels.empty() ? "" : "{", labels, labels.empty() ? "" : "}",
                               s.value);
        }
    }
    return out;
}

void MetricsFile::write(const std::string& path) const {
    const std::string tmp = path + ".tmp";
    const std::string body = text();
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    bool ok = f != nullptr && std::fwrite(body.data(), 1, body.size(), f) == body.size();
    if (f != nullptr) ok = std::fclose(f) == 0 && ok;
    if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
        int err = errno;
        std::remove(tmp.c_str());
        throw Error(Code::config, fmt::format("cannot write metrics file {}: {}", path, std::strerror(err)));
    }
}

void check_metrics_path(const std::string& path) {
    const auto slash = path.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    struct stat st {};
    std::string problem;
    if (path.empty() || path.back() == '/')
        problem = "not a file name";
    else if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        problem = fmt::format("directory {} does not exist", dir);
    else if (::access(dir.c_str(), W_OK) != 0)
        problem = fmt::format("directory {} is not writable", dir);
    else if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        problem = "it is a directory";
    if (!problem.empty()) throw Error(Code::config, fmt::format("cannot write metrics file {}: {}", path, problem));
}

MetricsWriter::MetricsWriter(std::string path, std::chrono::milliseconds interval, Clock& clock)
    : m_path(std::move(path)), m_interval(interval), m_clock(clock) {
    if (enabled()) check_metrics_path(m_path);
}

bool MetricsWriter::due() {
    return enabled() && (!m_written || m_clock.now() - m_last >= m_interval);
}

void MetricsWriter::write(const MetricsFile& metrics) {
    if (!enabled()) return;
    metrics.write(m_path);
    m_last = m_clock.now();
    m_written = true;
}

void MetricsWriter::write_after_failure(const std::function<MetricsFile()>& build) noexcept {
    if (!enabled()) return;
    try {
        write(build());
    } catch (const std::exception& e) {
        try {
            log::get("metrics")->warn("{}", e.what());
        } catch (...) {
        }
    }
}

MetricsTicker::MetricsTicker(MetricsWriter& writer, std::function<MetricsFile()> build,
                             std::chrono::milliseconds interval)
    : m_writer(writer), m_build(std::move(build)), m_interval(interval) {
    if (!m_writer.enabled()) return;
    m_thread = std::thread([this] {
        std::unique_lock lock(m_mutex);
        while (!m_stop_cv.wait_for(lock, m_interval, [this] { return m_stop; })) {
            try {
                m_writer.write(m_build());
            } catch (const std::exception& e) {
                log::get("metrics")->warn("{}", e.what());
            }
        }
    });
}

MetricsTicker::~MetricsTicker() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_stop_cv.notify_all();
    if (m_thread.joinable()) m_thread.join();
}

}  // namespace webook
