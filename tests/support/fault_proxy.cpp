#include "tests/support/fault_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace webook::testing {

namespace {

constexpr std::size_t k_buffer_size = 64 * 1024;
constexpr std::uint64_t k_unlimited = std::numeric_limits<std::uint64_t>::max();

std::runtime_error os_error(const std::string& what) {
    return std::runtime_error("FaultProxy: " + what + ": " + std::strerror(errno));
}

// An owned file descriptor.
class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : m_fd(fd) {}
    ~Fd() { reset(); }
    Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            m_fd = std::exchange(other.m_fd, -1);
        }
        return *this;
    }

    int get() const { return m_fd; }
    explicit operator bool() const { return m_fd >= 0; }
    // Linux closes the descriptor even when close() fails with EINTR: never retry.
    void reset() {
        if (m_fd >= 0) ::close(std::exchange(m_fd, -1));
    }
    // Closes with an RST instead of a FIN, discarding unsent data.
    void reset_hard() {
        if (m_fd < 0) return;
        const linger abort{1, 0};
        ::setsockopt(m_fd, SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
        reset();
    }

private:
    int m_fd = -1;
};

void set_no_delay(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// The bytes travelling one way: read from one socket, written to the other.
struct Pipe {
    std::unique_ptr<char[]> data = std::make_unique_for_overwrite<char[]>(k_buffer_size);
    std::size_t head = 0;  // next byte to write
    std::size_t tail = 0;  // end of the bytes read
    bool eof = false;      // the source sent its FIN
    bool shut = false;     // the FIN was passed on to the destination

    bool empty() const { return head == tail; }
    bool has_room() const { return tail < k_buffer_size; }
    bool finished() const { return shut; }
};

// One client connection and its upstream connection.
struct Link {
    Fd client;
    Fd upstream;
    bool connecting = true;  // the upstream connect() is in progress
    bool dead = false;       // closed, to be dropped at the end of the round
    Pipe to_upstream;
    Pipe to_client;
    std::uint64_t budget = k_unlimited;  // bytes left before cut_after() cuts

    void cut() {
        client.reset_hard();
        upstream.reset_hard();
        dead = true;
    }
};

// What the setters ask for; the proxy thread copies it when woken.
struct Settings {
    bool stalled = false;
    bool refusing = false;
    std::uint64_t cut_after = 0;
    std::uint64_t cut_after_calls = 0;  // each call restarts the counts
    std::uint64_t cut_all_calls = 0;
    std::uint64_t rate = 0;  // bytes per second, all links; 0: unlimited
};

}  // namespace

// The proxy thread owns the sockets and links; the setters only change
// m_wanted and wait until the thread has applied it (m_applied catches up
// with m_requested), which is what makes "in effect when it returns" true.
struct FaultProxy::Impl {
    Impl(const std::string& upstream_host, int upstream_port);
    ~Impl();

    // Changes the settings, wakes the proxy thread and waits for it to apply them.
    template <typename Change>
    void request(Change change);
    void wake();

    void run();
    bool apply_requests();  // false when asked to stop
    void accept_pending();
    void start_link(Fd client);
    void finish_connect(Link& link);
    void pump(Link& link, Pipe& pipe, int from, short from_events, int to);
    void serve(Link& link, short client_events, short upstream_events);

    sockaddr_storage m_upstream_address{};
    socklen_t m_upstream_length = 0;
    std::string m_upstream_name;  // host:port, for messages
    Fd m_listener;
    Fd m_wakeup;  // an eventfd
    int m_port = 0;

    std::mutex m_mutex;
    std::condition_variable m_applied_cv;
    Settings m_wanted;              // guarded by m_mutex
    std::uint64_t m_requested = 0;  // guarded by m_mutex
    std::uint64_t m_applied = 0;    // guarded by m_mutex
    bool m_running = true;          // guarded by m_mutex; false once the thread ends
    bool m_stopping = false;        // guarded by m_mutex

    // Proxy thread only.
    Settings m_current;
    std::vector<Link> m_links;
    double m_tokens = 0;  // bytes the rate allows now
    std::chrono::steady_clock::time_point m_refilled = std::chrono::steady_clock::now();
    void refill();
    bool may_send() const { return m_current.rate == 0 || m_tokens >= 1; }

    std::atomic<std::size_t> m_connections{0};
    std::atomic<std::uint64_t> m_accepted{0};
    std::atomic<std::uint64_t> m_bytes_forwarded{0};

    std::thread m_thread;
};

FaultProxy::Impl::Impl(const std::string& upstream_host, int upstream_port)
    : m_upstream_name(upstream_host + ":" + std::to_string(upstream_port)) {
    if (upstream_port < 1 || upstream_port > 65535) {
        throw std::runtime_error("FaultProxy: upstream port out of range in " + m_upstream_name);
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(upstream_host.c_str(), std::to_string(upstream_port).c_str(), &hints, &found);
    if (rc != 0) {
        throw std::runtime_error("FaultProxy: cannot resolve upstream " + m_upstream_name + ": " + ::gai_strerror(rc));
    }
    const std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, &::freeaddrinfo);
    const addrinfo* chosen = found;
    for (const addrinfo* a = found; a != nullptr; a = a->ai_next) {
        if (a->ai_family == AF_INET) {
            chosen = a;
            break;
        }
    }
    std::memcpy(&m_upstream_address, chosen->ai_addr, chosen->ai_addrlen);
    m_upstream_length = chosen->ai_addrlen;

    m_listener = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!m_listener) throw os_error("socket");
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    local.sin_port = 0;
    if (::bind(m_listener.get(), reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0) {
        throw os_error("bind 127.0.0.1:0");
    }
    if (::listen(m_listener.get(), SOMAXCONN) != 0) throw os_error("listen");
    socklen_t length = sizeof local;
    if (::getsockname(m_listener.get(), reinterpret_cast<sockaddr*>(&local), &length) != 0) {
        throw os_error("getsockname");
    }
    m_port = ntohs(local.sin_port);

    m_wakeup = Fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!m_wakeup) throw os_error("eventfd");

    m_thread = std::thread([this] { run(); });
}

FaultProxy::Impl::~Impl() {
    {
        std::lock_guard lock(m_mutex);
        m_stopping = true;
    }
    wake();
    m_thread.join();
}

void FaultProxy::Impl::wake() {
    const std::uint64_t one = 1;
    // Fails only when the counter is about to overflow: it is awake anyway.
    [[maybe_unused]] const ssize_t n = ::write(m_wakeup.get(), &one, sizeof one);
}

template <typename Change>
void FaultProxy::Impl::request(Change change) {
    std::unique_lock lock(m_mutex);
    change(m_wanted);
    const std::uint64_t ticket = ++m_requested;
    wake();
    m_applied_cv.wait(lock, [&] { return m_applied >= ticket || !m_running; });
}

bool FaultProxy::Impl::apply_requests() {
    Settings wanted;
    std::uint64_t requested = 0;
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping) return false;
        wanted = m_wanted;
        requested = m_requested;
    }
    const Settings previous = std::exchange(m_current, wanted);
    if (wanted.cut_all_calls != previous.cut_all_calls) {
        // Connections the kernel completed before the call are open too.
        accept_pending();
        for (Link& link : m_links) link.cut();
    }
    if (wanted.cut_after_calls != previous.cut_after_calls) {
        const std::uint64_t budget = wanted.cut_after == 0 ? k_unlimited : wanted.cut_after;
        for (Link& link : m_links) link.budget = budget;
    }
    m_connections = static_cast<std::size_t>(
        std::count_if(m_links.begin(), m_links.end(), [](const Link& link) { return !link.dead; }));
    {
        std::lock_guard lock(m_mutex);
        m_applied = requested;
    }
    m_applied_cv.notify_all();
    return true;
}

void FaultProxy::Impl::accept_pending() {
    for (;;) {
        Fd client(::accept4(m_listener.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (!client) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;  // EAGAIN: none left; EMFILE and the like: try again next round
        }
        ++m_accepted;
        if (m_current.refusing) {
            client.reset_hard();
            continue;
        }
        start_link(std::move(client));
    }
}

void FaultProxy::Impl::start_link(Fd client) {
    Link link;
    link.client = std::move(client);
    link.budget = m_current.cut_after == 0 ? k_unlimited : m_current.cut_after;
    set_no_delay(link.client.get());
    link.upstream = Fd(::socket(m_upstream_address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!link.upstream) {
        link.cut();
        return;
    }
    int rc;
    do {
        rc = ::connect(link.upstream.get(), reinterpret_cast<const sockaddr*>(&m_upstream_address), m_upstream_length);
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) {
        link.connecting = false;
        set_no_delay(link.upstream.get());
    } else if (errno != EINPROGRESS) {
        link.cut();  // the upstream is down: so is the client's connection
        return;
    }
    m_links.push_back(std::move(link));
}

void FaultProxy::Impl::finish_connect(Link& link) {
    int error = 0;
    socklen_t length = sizeof error;
    if (::getsockopt(link.upstream.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
        link.cut();
        return;
    }
    link.connecting = false;
    set_no_delay(link.upstream.get());
}

// Reads what `from` has (if poll said so) and writes what the pipe holds to
// `to`, within the link's budget; passes a FIN on once everything before it is
// written. Any error resets the whole link, as a broken network would.
void FaultProxy::Impl::pump(Link& link, Pipe& pipe, int from, short from_events, int to) {
    if (!pipe.eof && pipe.has_room() && (from_events & (POLLIN | POLLHUP | POLLERR)) != 0) {
        ssize_t n;
        do {
            n = ::recv(from, pipe.data.get() + pipe.tail, k_buffer_size - pipe.tail, 0);
        } while (n < 0 && errno == EINTR);
        if (n > 0) {
            pipe.tail += static_cast<std::size_t>(n);
        } else if (n == 0) {
            pipe.eof = true;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            link.cut();
            return;
        }
    }
    while (!pipe.empty() && may_send()) {
        std::uint64_t allowed = std::min<std::uint64_t>(pipe.tail - pipe.head, link.budget);
        if (m_current.rate != 0) allowed = std::min(allowed, static_cast<std::uint64_t>(m_tokens));
        const auto size = static_cast<std::size_t>(allowed);
        const ssize_t n = ::send(to, pipe.data.get() + pipe.head, size, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            link.cut();
            return;
        }
        pipe.head += static_cast<std::size_t>(n);
        m_bytes_forwarded += static_cast<std::uint64_t>(n);
        if (m_current.rate != 0) m_tokens -= static_cast<double>(n);
        if (link.budget != k_unlimited) {
            link.budget -= static_cast<std::uint64_t>(n);
            if (link.budget == 0) {
                link.cut();
                return;
            }
        }
    }
    if (pipe.empty()) pipe.head = pipe.tail = 0;
    if (pipe.eof && pipe.empty() && !pipe.shut) {
        ::shutdown(to, SHUT_WR);  // ENOTCONN when the peer is gone: the next send tells
        pipe.shut = true;
    }
}

void FaultProxy::Impl::refill() {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - m_refilled).count();
    m_refilled = now;
    if (m_current.rate == 0) return;
    const double burst = std::max(16384.0, static_cast<double>(m_current.rate) / 20);
    m_tokens = std::min(burst, m_tokens + elapsed * static_cast<double>(m_current.rate));
}

void FaultProxy::Impl::serve(Link& link, short client_events, short upstream_events) {
    if (link.connecting) {
        if ((upstream_events & (POLLOUT | POLLERR | POLLHUP)) == 0) return;
        finish_connect(link);
        if (link.dead) return;
        upstream_events = 0;  // a fresh connection: nothing to read yet, as far as we know
    }
    if (m_current.stalled) return;
    pump(link, link.to_upstream, link.client.get(), client_events, link.upstream.get());
    if (link.dead) return;
    pump(link, link.to_client, link.upstream.get(), upstream_events, link.client.get());
    if (link.dead) return;
    if (link.to_upstream.finished() && link.to_client.finished()) {
        // Both sides said all they had to say: an orderly close.
        link.client.reset();
        link.upstream.reset();
        link.dead = true;
    }
}

void FaultProxy::Impl::run() {
    std::vector<pollfd> polled;
    for (;;) {
        // What each socket waits for. A socket waiting for nothing is left out
        // (fd -1): poll() reports POLLHUP regardless, and would spin.
        polled.clear();
        polled.push_back({m_wakeup.get(), POLLIN, 0});
        polled.push_back({m_listener.get(), POLLIN, 0});
        refill();
        bool held = false;  // bytes wait for the rate to allow them
        for (const Link& link : m_links) {
            short client_events = 0, upstream_events = 0;
            if (link.connecting) {
                upstream_events = POLLOUT;
            } else if (!m_current.stalled) {
                if (!link.to_upstream.eof && link.to_upstream.has_room()) client_events |= POLLIN;
                if (!link.to_client.eof && link.to_client.has_room()) upstream_events |= POLLIN;
                const bool waiting = !link.to_upstream.empty() || !link.to_client.empty();
                if (may_send()) {
                    if (!link.to_upstream.empty()) upstream_events |= POLLOUT;
                    if (!link.to_client.empty()) client_events |= POLLOUT;
                } else {
                    held = held || waiting;
                }
            }
            polled.push_back({client_events != 0 ? link.client.get() : -1, client_events, 0});
            polled.push_back({upstream_events != 0 ? link.upstream.get() : -1, upstream_events, 0});
        }
        // Held bytes: wake when the bucket has refilled a little.
        if (::poll(polled.data(), polled.size(), held ? 2 : -1) < 0) {
            if (errno == EINTR) continue;
            break;  // EINVAL/ENOMEM: nothing sensible left to do
        }

        if (polled[0].revents != 0) {
            std::uint64_t count;
            [[maybe_unused]] const ssize_t n = ::read(m_wakeup.get(), &count, sizeof count);
        }
        // Settings first, so no byte moves under a mode a setter has left.
        if (!apply_requests()) break;
        if (polled[1].revents != 0) accept_pending();

        // Links accepted in this round come after the polled ones; their turn is next round.
        const std::size_t polled_links = (polled.size() - 2) / 2;
        for (std::size_t i = 0; i < polled_links; ++i) {
            Link& link = m_links[i];
            if (link.dead) continue;
            serve(link, polled[2 + 2 * i].revents, polled[3 + 2 * i].revents);
        }
        std::erase_if(m_links, [](const Link& link) { return link.dead; });
        m_connections = m_links.size();
    }

    for (Link& link : m_links) link.cut();
    m_links.clear();
    m_connections = 0;
    {
        std::lock_guard lock(m_mutex);
        m_running = false;
    }
    m_applied_cv.notify_all();
}

FaultProxy::FaultProxy(std::string upstream_host, int upstream_port)
    : m_impl(std::make_unique<Impl>(upstream_host, upstream_port)) {}

FaultProxy::~FaultProxy() = default;
FaultProxy::FaultProxy(FaultProxy&&) noexcept = default;
FaultProxy& FaultProxy::operator=(FaultProxy&&) noexcept = default;

int FaultProxy::port() const {
    return m_impl->m_port;
}

void FaultProxy::forward() {
    m_impl->request([](Settings& s) { s.stalled = false; });
}

void FaultProxy::stall() {
    m_impl->request([](Settings& s) { s.stalled = true; });
}

void FaultProxy::cut_all() {
    m_impl->request([](Settings& s) { ++s.cut_all_calls; });
}

void FaultProxy::refuse(bool refusing) {
    m_impl->request([refusing](Settings& s) { s.refusing = refusing; });
}

void FaultProxy::cut_after(std::uint64_t bytes) {
    m_impl->request([bytes](Settings& s) {
        s.cut_after = bytes;
        ++s.cut_after_calls;
    });
}

void FaultProxy::limit_rate(std::uint64_t bytes_per_second) {
    m_impl->request([bytes_per_second](Settings& s) { s.rate = bytes_per_second; });
}

std::size_t FaultProxy::connections() const {
    return m_impl->m_connections;
}
std::uint64_t FaultProxy::accepted() const {
    return m_impl->m_accepted;
}
std::uint64_t FaultProxy::bytes_forwarded() const {
    return m_impl->m_bytes_forwarded;
}

}  // namespace webook::testing
