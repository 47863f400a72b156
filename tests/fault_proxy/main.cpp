// webook-fault-proxy: the tests' fault proxy (tests/support/fault_proxy.h) as
// a program, for benchmarks and drills that put it between webookctl and a
// server from a shell script. It forwards until SIGTERM/SIGINT; SIGUSR1 cuts
// every connection, SIGUSR2 toggles refusing new ones (a server that is down).
//
// usage: webook-fault-proxy UPSTREAM_HOST UPSTREAM_PORT PORT_FILE
//   writes the port it listens on (127.0.0.1) to PORT_FILE once it listens.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <string>

#include <unistd.h>

#include "tests/support/fault_proxy.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;
volatile std::sig_atomic_t g_cut = 0;
volatile std::sig_atomic_t g_toggle_refuse = 0;

void on_signal(int signal) {
    if (signal == SIGUSR1)
        g_cut = 1;
    else if (signal == SIGUSR2)
        g_toggle_refuse = 1;
    else
        g_stop = 1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: webook-fault-proxy UPSTREAM_HOST UPSTREAM_PORT PORT_FILE\n");
        return 2;
    }
    try {
        webook::testing::FaultProxy proxy(argv[1], std::stoi(argv[2]));
        for (int s : {SIGTERM, SIGINT, SIGUSR1, SIGUSR2}) std::signal(s, on_signal);
        {
            const std::string tmp = std::string(argv[3]) + ".tmp";
            std::ofstream(tmp) << proxy.port() << "\n";
            std::rename(tmp.c_str(), argv[3]);
        }
        bool refusing = false;
        while (!g_stop) {
            if (g_cut) {
                g_cut = 0;
                proxy.cut_all();
            }
            if (g_toggle_refuse) {
                g_toggle_refuse = 0;
                refusing = !refusing;
                proxy.refuse(refusing);
            }
            ::usleep(20'000);
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "webook-fault-proxy: %s\n", e.what());
        return 1;
    }
}
