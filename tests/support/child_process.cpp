#include "tests/support/child_process.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/test_env.h"

namespace webook::testing {

ScratchDir::ScratchDir(const std::string& tag) {
    const char* tmp = std::getenv("TMPDIR");
    std::string base = (tmp != nullptr && *tmp != '\0') ? tmp : "/tmp";
    m_path = base + "/" + unique_name("webook_" + tag);
    std::filesystem::create_directories(m_path);
}

ScratchDir::~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(m_path, ignored);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path);
}

ChildProcess::ChildProcess(std::vector<std::string> argv) : m_argv(std::move(argv)), m_dir("child") {
    if (m_argv.empty()) throw std::runtime_error("ChildProcess without a command");
    const std::string out = m_dir.file("stdout"), err = m_dir.file("stderr");
    std::vector<char*> args;
    for (auto& a : m_argv) args.push_back(a.data());
    args.push_back(nullptr);
    m_pid = ::fork();
    if (m_pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
    if (m_pid == 0) {
        // Only async-signal-safe calls from here on.
        int in_fd = ::open("/dev/null", O_RDONLY);
        int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (in_fd < 0 || out_fd < 0 || err_fd < 0) ::_exit(127);
        ::dup2(in_fd, 0);
        ::dup2(out_fd, 1);
        ::dup2(err_fd, 2);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
}

ChildProcess::~ChildProcess() {
    if (m_status < 0 && m_pid > 0) kill_hard();
}

bool ChildProcess::running() {
    if (m_status >= 0) return false;
    int status = 0;
    pid_t r = ::waitpid(m_pid, &status, WNOHANG);
    if (r == 0) return true;
    m_status = r == m_pid ? (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) : 255;
    return false;
}

void ChildProcess::kill_hard() {
    if (m_status >= 0) return;
    ::kill(m_pid, SIGKILL);
    int status = 0;
    while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
    }
    m_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void ChildProcess::send_signal(int signal) {
    if (m_status < 0) ::kill(m_pid, signal);
}

CommandResult ChildProcess::wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            kill_hard();
            std::string cmd;
            for (const auto& a : m_argv) cmd += (cmd.empty() ? "" : " ") + a;
            throw std::runtime_error("still running after " + std::to_string(timeout.count()) + " ms, killed: " + cmd +
                                     "\nstderr:\n" + err());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return {m_status, out(), err()};
}

std::string ChildProcess::out() const {
    return read_file(m_dir.file("stdout"));
}
std::string ChildProcess::err() const {
    return read_file(m_dir.file("stderr"));
}

CommandResult run_command(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
    ChildProcess child(std::move(argv));
    return child.wait(timeout);
}

}  // namespace webook::testing
