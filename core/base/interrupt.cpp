#include "core/base/interrupt.h"

#include <atomic>
#include <csignal>

#include "core/base/error.h"

namespace webook {
namespace {

std::atomic<int> g_signal{0};

extern "C" void on_signal(int sig) {
    g_signal.store(sig);
}

}  // namespace

void install_interrupt_handlers() {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: blocking calls return so loops see the flag
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() {
    return g_signal.load() != 0;
}

void request_interrupt() {
    g_signal.store(SIGTERM);
}

void check_interrupted() {
    if (int sig = g_signal.load(); sig != 0)
        throw Error(Code::interrupted, sig == SIGINT ? "interrupted by SIGINT" : "interrupted by SIGTERM");
}

}  // namespace webook
