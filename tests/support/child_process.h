// Running a command-line binary from a test: whole-CLI tests start
// webookctl as a child process, read what it printed and its exit status,
// and may SIGKILL it part-way to test crash safety.
//
// stdout and stderr go to files in a directory of the child's own (no pipes
// that could fill up and stall it). The environment is inherited, so the
// passwords services.env exports reach the child.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <sys/types.h>

namespace webook::testing {

// A directory under $TMPDIR (default /tmp), removed with its files on
// destruction.
class ScratchDir {
public:
    explicit ScratchDir(const std::string& tag);
    ~ScratchDir();
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;

    const std::string& path() const { return m_path; }
    // path()/name
    std::string file(const std::string& name) const { return m_path + "/" + name; }

private:
    std::string m_path;
};

std::string read_file(const std::string& path);  // "" when missing
void write_file(const std::string& path, const std::string& text);

struct CommandResult {
    int exit_code = -1;  // 128 + signal number when killed by a signal
    std::string out;     // stdout
    std::string err;     // stderr
};

class ChildProcess {
public:
    // Starts argv[0] with the rest as arguments. Throws std::runtime_error
    // if it cannot be started.
    explicit ChildProcess(std::vector<std::string> argv);
    // Kills (SIGKILL) and reaps the child if it is still running.
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    pid_t pid() const { return m_pid; }
    bool running();
    void kill_hard();              // SIGKILL, then reap
    void send_signal(int signal);  // e.g. SIGTERM; does not wait
    // Waits for the exit; after `timeout` kills the child and throws
    // std::runtime_error naming the command.
    CommandResult wait(std::chrono::milliseconds timeout);
    // What the child wrote so far.
    std::string out() const;
    std::string err() const;

private:
    std::vector<std::string> m_argv;
    ScratchDir m_dir;
    pid_t m_pid = -1;
    int m_status = -1;  // exit code once reaped
};

// Starts argv, waits up to `timeout`, returns what happened.
CommandResult run_command(std::vector<std::string> argv, std::chrono::milliseconds timeout = std::chrono::minutes(3));

}  // namespace webook::testing
