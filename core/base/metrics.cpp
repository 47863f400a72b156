#include "core/base/metrics.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

#include "core/base/error.h"

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

void MetricsFile::gauge(const std::string& name, const std::string& help,
                        const std::map<std::string, std::string>& labels, double value) {
    auto [it, fresh] = m_metrics.try_emplace(name);
    if (fresh) {
        m_order.push_back(name);
        it->second.help = help;
    }
    it->second.samples.push_back({labels, value});
}

std::string MetricsFile::text() const {
    std::string out;
    for (const auto& name : m_order) {
        const Metric& m = m_metrics.at(name);
        out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n", name, m.help, name);
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

}  // namespace webook
