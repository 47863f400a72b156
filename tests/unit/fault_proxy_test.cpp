#include "tests/support/fault_proxy.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace webook::testing {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// How long something that should happen may take (generous: loaded CI
// machines, sanitizers), and how long we watch for something that should not.
constexpr auto k_arrives_within = 5s;
constexpr auto k_quiet_for = 300ms;

// Polls `condition` until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition, SteadyClock::duration timeout = k_arrives_within) {
    const auto deadline = SteadyClock::now() + timeout;
    for (;;) {
        if (condition()) return true;
        if (SteadyClock::now() >= deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
}

int remaining_ms(SteadyClock::time_point deadline) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

void send_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
        data += n;
        size -= static_cast<std::size_t>(n);
    }
}

// A blocking TCP socket on the test's side.
class Socket {
public:
    Socket() = default;
    explicit Socket(int fd) : m_fd(fd) {}
    ~Socket() { close(); }
    Socket(Socket&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    Socket& operator=(Socket&& other) noexcept {
        if (this != &other) {
            close();
            m_fd = std::exchange(other.m_fd, -1);
        }
        return *this;
    }

    static Socket connect_to(int port) {
        Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        if (s.m_fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
        const sockaddr_in address = loopback(port);
        if (::connect(s.m_fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
            throw std::runtime_error("connect to port " + std::to_string(port) + ": " + std::strerror(errno));
        }
        return s;
    }

    static sockaddr_in loopback(int port) {
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(static_cast<std::uint16_t>(port));
        return address;
    }

    int fd() const { return m_fd; }
    void close() {
        if (m_fd >= 0) ::close(std::exchange(m_fd, -1));
    }
    void shutdown_write() { ::shutdown(m_fd, SHUT_WR); }

    void send_all(const std::string& data) const { send_all(data.data(), data.size()); }
    void send_all(const char* data, std::size_t size) const { testing::send_all(m_fd, data, size); }

    // Up to `size` bytes, waiting at most `timeout` for them; returns what
    // arrived (less when the connection closed or time ran out).
    std::string receive(std::size_t size, SteadyClock::duration timeout = k_arrives_within) const {
        std::string got;
        const auto deadline = SteadyClock::now() + timeout;
        char buffer[64 * 1024];
        while (got.size() < size) {
            pollfd p{m_fd, POLLIN, 0};
            const int ready = ::poll(&p, 1, remaining_ms(deadline));
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) break;
            const ssize_t n = ::recv(m_fd, buffer, std::min(sizeof buffer, size - got.size()), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            got.append(buffer, static_cast<std::size_t>(n));
        }
        return got;
    }

    // Reads until end of file or an error (true), or `timeout` (false),
    // appending what arrived to `got`.
    bool closes_within(SteadyClock::duration timeout, std::string* got = nullptr) const {
        const auto deadline = SteadyClock::now() + timeout;
        char buffer[64 * 1024];
        for (;;) {
            pollfd p{m_fd, POLLIN, 0};
            const int ready = ::poll(&p, 1, remaining_ms(deadline));
            if (ready < 0 && errno == EINTR) continue;
            if (ready <= 0) return false;
            const ssize_t n = ::recv(m_fd, buffer, sizeof buffer, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return true;
            if (got != nullptr) got->append(buffer, static_cast<std::size_t>(n));
        }
    }

    // True if nothing arrives (and the connection stays open) for `quiet`.
    bool silent_for(SteadyClock::duration quiet) const {
        pollfd p{m_fd, POLLIN, 0};
        return ::poll(&p, 1, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(quiet).count())) ==
               0;
    }

private:
    int m_fd = -1;
};

// A listening socket on 127.0.0.1, on an ephemeral port.
Socket listen_on_loopback() {
    Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_in address = Socket::loopback(0);
    if (s.fd() < 0 || ::bind(s.fd(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0 ||
        ::listen(s.fd(), 64) != 0) {
        throw std::runtime_error(std::string("listen: ") + std::strerror(errno));
    }
    return s;
}

int port_of(const Socket& s) {
    sockaddr_in address{};
    socklen_t length = sizeof address;
    ::getsockname(s.fd(), reinterpret_cast<sockaddr*>(&address), &length);
    return ntohs(address.sin_port);
}

// An upstream whose connections the test holds itself, to see exactly what
// reaches the server side.
class Listener {
public:
    Listener() : m_socket(listen_on_loopback()) {}
    int port() const { return port_of(m_socket); }
    // The next connection, or a closed Socket after `timeout`.
    Socket accept_one(SteadyClock::duration timeout = k_arrives_within) const {
        pollfd p{m_socket.fd(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count())) <=
            0) {
            return Socket();
        }
        return Socket(::accept4(m_socket.fd(), nullptr, nullptr, SOCK_CLOEXEC));
    }

private:
    Socket m_socket;
};

// An upstream that sends back whatever it receives, a thread per connection,
// and passes a half-close back too.
class EchoServer {
public:
    EchoServer() : m_listener(listen_on_loopback()), m_port(port_of(m_listener)) {
        m_acceptor = std::thread([this] { accept_loop(); });
    }
    ~EchoServer() {
        m_stopping = true;
        // shutdown() wakes a thread blocked in accept() or recv() on Linux.
        ::shutdown(m_listener.fd(), SHUT_RDWR);
        m_acceptor.join();
        {
            std::lock_guard lock(m_mutex);
            for (int fd : m_open) ::shutdown(fd, SHUT_RDWR);
        }
        for (std::thread& t : m_connections) t.join();
    }

    int port() const { return m_port; }
    int accepted() const { return m_accepted; }
    std::uint64_t bytes_received() const { return m_bytes_received; }

private:
    void accept_loop() {
        while (!m_stopping) {
            const int fd = ::accept4(m_listener.fd(), nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR || errno == ECONNABORTED) continue;
                return;
            }
            ++m_accepted;
            std::lock_guard lock(m_mutex);
            m_open.push_back(fd);
            if (m_stopping) ::shutdown(fd, SHUT_RDWR);
            m_connections.emplace_back([this, fd] { echo(fd); });
        }
    }

    void echo(int fd) {
        char buffer[64 * 1024];
        for (;;) {
            const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            m_bytes_received += static_cast<std::uint64_t>(n);
            try {
                send_all(fd, buffer, static_cast<std::size_t>(n));
            } catch (const std::exception&) {
                break;
            }
        }
        ::shutdown(fd, SHUT_WR);
        std::lock_guard lock(m_mutex);
        std::erase(m_open, fd);
        ::close(fd);
    }

    Socket m_listener;
    int m_port;
    std::atomic<bool> m_stopping{false};
    std::atomic<int> m_accepted{0};
    std::atomic<std::uint64_t> m_bytes_received{0};
    std::mutex m_mutex;
    std::vector<int> m_open;  // guarded by m_mutex
    std::vector<std::thread> m_connections;
    std::thread m_acceptor;
};

// Bytes that differ at every offset (a shifted copy would not match).
std::string pattern(std::size_t size, std::uint64_t seed = 1) {
    std::string data(size, '\0');
    std::uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (std::size_t i = 0; i < size; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data[i] = static_cast<char>(x);
    }
    return data;
}

std::size_t first_difference(const std::string& a, const std::string& b) {
    const std::size_t n = std::min(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        if (a[i] != b[i]) return i;
    }
    return n;
}

std::size_t open_descriptors() {
    std::size_t count = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return 0;
    while (const dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] != '.') ++count;
    }
    ::closedir(dir);
    return count;
}

// A round trip through `proxy` to an echo server works.
void expect_round_trip(const FaultProxy& proxy, const std::string& message = "ping") {
    Socket client = Socket::connect_to(proxy.port());
    client.send_all(message);
    EXPECT_EQ(client.receive(message.size()), message);
}

TEST(FaultProxy, ForwardsBytesBothWaysAndCountsThem) {
    EchoServer echo;
    FaultProxy proxy("127.0.0.1", echo.port());
    EXPECT_GT(proxy.port(), 0);
    EXPECT_NE(proxy.port(), echo.port());

    Socket client = Socket::connect_to(proxy.port());
    const std::string message = "SELECT 1;";
    client.send_all(message);
    EXPECT_EQ(client.receive(message.size()), message);
    client.send_all("again");
    EXPECT_EQ(client.receive(5), "again");

    EXPECT_TRUE(eventually([&] { return proxy.bytes_forwarded() == 2 * (message.size() + 5); }));
    EXPECT_EQ(proxy.accepted(), 1u);
    EXPECT_EQ(proxy.connections(), 1u);
    client.close();
    EXPECT_TRUE(eventually([&] { return proxy.connections() == 0; })) << "a closed client closes its link";
}

TEST(FaultProxy, ResolvesAHostName) {
    EchoServer echo;
    FaultProxy proxy("localhost", echo.port());
    expect_round_trip(proxy);
}

TEST(FaultProxy, CarriesTwentyMegabytesIntactAndPassesTheHalfCloseOn) {
    EchoServer echo;
    FaultProxy proxy("127.0.0.1", echo.port());
    const std::string sent = pattern(20 * 1024 * 1024);

    Socket client = Socket::connect_to(proxy.port());
    std::thread writer([&] {
        client.send_all(sent);
        client.shutdown_write();  // the echo server answers the FIN with its own
    });
    std::string got;
    const bool closed = client.closes_within(30s, &got);
    writer.join();

    EXPECT_TRUE(closed) << "the echo server's FIN came back through the proxy";
    ASSERT_EQ(got.size(), sent.size());
    EXPECT_TRUE(got == sent) << "first difference at byte " << first_difference(got, sent);
    EXPECT_EQ(proxy.bytes_forwarded(), 2 * sent.size());
}

// A limited rate holds the bytes back -- never more than the bucket plus
// the rate times the time since the limit, whatever the machine's load --
// and delivers them intact; lifting the limit lets the rest through at once.
TEST(FaultProxy, ALimitedRateNeverForwardsMoreThanItAllowsAndLosesNothing) {
    EchoServer echo;
    FaultProxy proxy("127.0.0.1", echo.port());
    constexpr std::uint64_t k_rate = 200 * 1024;  // bytes per second, both directions together
    proxy.limit_rate(k_rate);
    const auto limited_at = SteadyClock::now();
    const std::string sent = pattern(256 * 1024);
    Socket client = Socket::connect_to(proxy.port());
    std::thread writer([&] { client.send_all(sent); });
    for (int i = 0; i < 5; ++i) {
        std::this_thread::sleep_for(50ms);
        const double elapsed = std::chrono::duration<double>(SteadyClock::now() - limited_at).count();
        EXPECT_LE(static_cast<double>(proxy.bytes_forwarded()), 16384.0 + elapsed * static_cast<double>(k_rate))
            << "after " << elapsed << " s";
    }
    EXPECT_LT(proxy.bytes_forwarded(), 2 * sent.size()) << "held back";
    proxy.limit_rate(0);
    const std::string got = client.receive(sent.size());
    writer.join();
    EXPECT_TRUE(got == sent) << "first difference at byte " << first_difference(got, sent);
    EXPECT_TRUE(eventually([&] { return proxy.bytes_forwarded() == 2 * sent.size(); }));
}

TEST(FaultProxy, CutAllClosesOpenConnectionsAndLaterOnesStillWork) {
    EchoServer echo;
    FaultProxy proxy("127.0.0.1", echo.port());
    Socket first = Socket::connect_to(proxy.port());
    Socket second = Socket::connect_to(proxy.port());
    first.send_all("x");
    ASSERT_EQ(first.receive(1), "x");
    ASSERT_TRUE(eventually([&] { return proxy.connections() == 2; }));

    proxy.cut_all();

    EXPECT_TRUE(first.closes_within(k_arrives_within));
    EXPECT_TRUE(second.closes_within(k_arrives_within));
    EXPECT_EQ(proxy.connections(), 0u) << "cut_all() has taken effect when it returns";
    expect_round_trip(proxy, "after the cut");
    EXPECT_EQ(proxy.accepted(), 3u);
}

TEST(FaultProxy, CutAllCutsAConnectionJustMade) {
    EchoServer echo;
    FaultProxy proxy("127.0.0.1", echo.port());
    // connect() returns once the kernel has the connection, maybe before the
    // proxy has accepted it: it is open all the same.
    Socket client = Socket::connect_to(proxy.port());
    proxy.cut_all();
    EXPECT_TRUE(client.closes_within(k_arrives_within));
}

TEST(FaultProxy, RefusedConnectionsCloseAtOnceUntilRefusalIsLifted) {
    EchoServer echo;
    FaultProxy proxy("127.0.0.1", echo.port());
    Socket open_before = Socket::connect_to(proxy.port());
    open_before.send_all("hi");
    ASSERT_EQ(open_before.receive(2), "hi");  // so the echo server has accepted it

    proxy.refuse(true);
    for (int i = 0; i < 3; ++i) {
        Socket refused = Socket::connect_to(proxy.port());
        EXPECT_TRUE(refused.closes_within(k_arrives_within));
    }
    EXPECT_EQ(proxy.accepted(), 4u);
    EXPECT_EQ(echo.accepted(), 1) << "refused connections never reach the upstream";
    open_before.send_all("still here");
    EXPECT_EQ(open_before.receive(10), "still here") << "refusing leaves open connections alone";

    proxy.refuse(false);
    expect_round_trip(proxy, "back");
}

TEST(FaultProxy, CutAllWithRefusalIsAnOutageUntilTheServerReturns) {
    EchoServer echo;
    FaultProxy proxy("127.0.0.1", echo.port());
    Socket client = Socket::connect_to(proxy.port());
    client.send_all("q1");
    ASSERT_EQ(client.receive(2), "q1");

    proxy.cut_all();
    proxy.refuse(true);
    EXPECT_TRUE(client.closes_within(k_arrives_within));
    EXPECT_TRUE(Socket::connect_to(proxy.port()).closes_within(k_arrives_within));

    proxy.refuse(false);
    expect_round_trip(proxy, "q2");
}

TEST(FaultProxy, StallHoldsBytesBothWaysUntilForwardReleasesThemIntact) {
    Listener server;
    FaultProxy proxy("127.0.0.1", server.port());
    Socket client = Socket::connect_to(proxy.port());
    Socket server_side = server.accept_one();
    ASSERT_GE(server_side.fd(), 0);
    client.send_all("before");
    ASSERT_EQ(server_side.receive(6), "before");

    proxy.stall();
    const std::string request = pattern(100 * 1000, 2), response = pattern(100 * 1000, 3);
    std::thread client_writer([&] { client.send_all(request); });  // more than a socket buffer may take
    std::thread server_writer([&] { server_side.send_all(response); });
    EXPECT_TRUE(server_side.silent_for(k_quiet_for)) << "nothing reaches the server during a stall";
    EXPECT_TRUE(client.silent_for(0ms)) << "nothing reaches the client during a stall";
    const std::uint64_t forwarded = proxy.bytes_forwarded();

    // Accepted and connected upstream, but stalled too.
    Socket late_client = Socket::connect_to(proxy.port());
    Socket late_server_side = server.accept_one();
    EXPECT_GE(late_server_side.fd(), 0);
    late_client.send_all("late");
    EXPECT_TRUE(late_server_side.silent_for(k_quiet_for));
    EXPECT_EQ(proxy.bytes_forwarded(), forwarded);

    proxy.forward();
    EXPECT_EQ(server_side.receive(request.size()), request);
    EXPECT_EQ(client.receive(response.size()), response);
    EXPECT_EQ(late_server_side.receive(4), "late");
    client_writer.join();
    server_writer.join();
}

TEST(FaultProxy, CutAfterCutsAConnectionOnceItHasForwardedThatManyMoreBytes) {
    EchoServer echo;
    FaultProxy proxy("127.0.0.1", echo.port());
    Socket client = Socket::connect_to(proxy.port());
    const std::string earlier = pattern(5000, 4);
    client.send_all(earlier);
    ASSERT_EQ(client.receive(earlier.size()), earlier);

    // Counted from the call, not from the connection's start: the 10000 bytes
    // above do not count.
    proxy.cut_after(1000);
    const std::uint64_t before = proxy.bytes_forwarded();
    const std::string first = pattern(300, 5), second = pattern(300, 6);
    client.send_all(first);
    EXPECT_EQ(client.receive(first.size()), first) << "600 of 1000 bytes: still open";
    client.send_all(second);  // 300 up, then 100 of the echo before the cut
    std::string tail;
    EXPECT_TRUE(client.closes_within(k_arrives_within, &tail));
    EXPECT_LE(tail.size(), 100u);
    EXPECT_EQ(tail, second.substr(0, tail.size()));
    EXPECT_TRUE(eventually([&] { return proxy.connections() == 0; }));
    EXPECT_EQ(proxy.bytes_forwarded() - before, 1000u);

    // Later connections get the same budget, each from its own start.
    Socket later = Socket::connect_to(proxy.port());
    const std::string big = pattern(4000, 7);
    later.send_all(big);
    std::string got;
    EXPECT_TRUE(later.closes_within(k_arrives_within, &got));
    EXPECT_LT(got.size(), big.size());
}

TEST(FaultProxy, CutAfterZeroNeverCuts) {
    EchoServer echo;
    FaultProxy proxy("127.0.0.1", echo.port());
    proxy.cut_after(100);
    proxy.cut_after(0);
    const std::string data = pattern(1 << 20, 8);
    Socket client = Socket::connect_to(proxy.port());
    std::thread writer([&] { client.send_all(data); });
    EXPECT_TRUE(client.receive(data.size()) == data);
    writer.join();
}

TEST(FaultProxy, ClientsOfAnUnreachableUpstreamAreClosed) {
    int closed_port = 0;
    {
        Listener gone;  // a port that was just free, and is again
        closed_port = gone.port();
    }
    FaultProxy proxy("127.0.0.1", closed_port);
    Socket client = Socket::connect_to(proxy.port());
    EXPECT_TRUE(client.closes_within(k_arrives_within));
    EXPECT_EQ(proxy.accepted(), 1u);
    EXPECT_TRUE(eventually([&] { return proxy.connections() == 0; }));
}

TEST(FaultProxy, ThrowsForAnUpstreamPortOutOfRange) {
    EXPECT_THROW(FaultProxy("127.0.0.1", 0), std::runtime_error);
    EXPECT_THROW(FaultProxy("127.0.0.1", 65536), std::runtime_error);
}

TEST(FaultProxy, MovedProxyKeepsForwarding) {
    EchoServer echo;
    FaultProxy original("127.0.0.1", echo.port());
    const int port = original.port();
    FaultProxy moved = std::move(original);
    EXPECT_EQ(moved.port(), port);
    expect_round_trip(moved);
}

TEST(FaultProxy, DestructorWithOpenConnectionsReturnsPromptlyAndLeavesNothingBehind) {
    const std::size_t descriptors_before = open_descriptors();
    {
        EchoServer echo;
        std::vector<Socket> clients;
        std::optional<FaultProxy> proxy(std::in_place, "127.0.0.1", echo.port());
        for (int i = 0; i < 3; ++i) clients.push_back(Socket::connect_to(proxy->port()));
        clients[0].send_all("x");
        ASSERT_EQ(clients[0].receive(1), "x");
        ASSERT_TRUE(eventually([&] { return proxy->connections() == 3; }));
        proxy->stall();
        clients[1].send_all(pattern(50000));  // held by the stall

        const auto start = SteadyClock::now();
        proxy.reset();
        EXPECT_LT(SteadyClock::now() - start, 1s);
        for (const Socket& c : clients) EXPECT_TRUE(c.closes_within(k_arrives_within));
    }
    EXPECT_EQ(open_descriptors(), descriptors_before) << "no descriptor of the proxy (or the test) left open";
}

}  // namespace
}  // namespace webook::testing
