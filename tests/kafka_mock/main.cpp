// webook-kafka-mock: a Kafka-protocol broker for tests and the demo.
//
// No Kafka broker is packaged for Debian, so this runs librdkafka's built-in
// mock cluster in its own process. The brokers listen on loopback TCP ports
// that librdkafka picks itself (2.0 cannot fix them); the bootstrap address
// list is written to --bootstrap-file once the cluster serves. Data lives in
// memory until the process is stopped with SIGTERM/SIGINT.
//
// usage: webook-kafka-mock [--brokers N] [--bootstrap-file PATH]
//                          [--topic NAME:PARTITIONS]...
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <unistd.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) {
    g_stop = 1;
}

int usage() {
    std::fprintf(stderr,
                 "usage: webook-kafka-mock [--brokers N] [--bootstrap-file PATH] "
                 "[--topic NAME:PARTITIONS]...\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    int brokers = 3;
    std::string bootstrap_file;
    std::vector<std::pair<std::string, int>> topics;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (i + 1 >= argc) return usage();
        if (arg == "--brokers") {
            brokers = std::atoi(argv[++i]);
            if (brokers < 1) return usage();
        } else if (arg == "--bootstrap-file") {
            bootstrap_file = argv[++i];
        } else if (arg == "--topic") {
            std::string spec = argv[++i];
            auto colon = spec.find(':');
            if (colon == std::string::npos) return usage();
            topics.emplace_back(spec.substr(0, colon), std::atoi(spec.c_str() + colon + 1));
        } else {
            return usage();
        }
    }

    // The mock cluster hangs off a handle; a producer handle that never
    // produces is the cheapest host.
    char errstr[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (rk == nullptr) {
        std::fprintf(stderr, "webook-kafka-mock: cannot create handle: %s\n", errstr);
        return 1;
    }
    rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
    if (cluster == nullptr) {
        std::fprintf(stderr, "webook-kafka-mock: cannot create mock cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    for (const auto& [name, partitions] : topics) {
        if (rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, 1) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            std::fprintf(stderr, "webook-kafka-mock: cannot create topic %s\n", name.c_str());
        }
    }

    const char* bootstraps = rd_kafka_mock_cluster_bootstraps(cluster);
    std::printf("%s\n", bootstraps);
    std::fflush(stdout);
    if (!bootstrap_file.empty()) {
        // Written whole under a temporary name, then renamed: readers never
        // see half an address list.
        std::string tmp = bootstrap_file + ".tmp";
        FILE* f = std::fopen(tmp.c_str(), "w");
        if (f == nullptr || std::fprintf(f, "%s\n", bootstraps) < 0 || std::fclose(f) != 0 ||
            std::rename(tmp.c_str(), bootstrap_file.c_str()) != 0) {
            std::fprintf(stderr, "webook-kafka-mock: cannot write %s: %s\n", bootstrap_file.c_str(),
                         std::strerror(errno));
            rd_kafka_mock_cluster_destroy(cluster);
            rd_kafka_destroy(rk);
            return 1;
        }
    }

    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    while (!g_stop) pause();

    rd_kafka_mock_cluster_destroy(cluster);
    rd_kafka_destroy(rk);
    return 0;
}
