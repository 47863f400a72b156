// A TCP proxy that injects network faults: tests put it between webookctl
// (or a Connection) and a MariaDB/PostgreSQL server, point the client at
// 127.0.0.1:port(), and then make the network misbehave on cue -- hold every
// byte (a stall), reset the open connections (a cut), reset new connections
// as they arrive (a server that is down or restarting), or reset a
// connection part-way through a result set (cut_after).
//
//     FaultProxy proxy(dsn.host, dsn.port);
//     dsn.host = "127.0.0.1";
//     dsn.port = proxy.port();
//     ...                       // start the tool against dsn
//     proxy.cut_all();          // the server goes away ...
//     proxy.refuse(true);       // ... and stays away
//     ...                       // the tool retries, fails over, reports
//     proxy.refuse(false);      // the server is back
//
// The proxy listens on 127.0.0.1 on an ephemeral port and forwards each
// accepted connection to the upstream over a connection of its own, bytes
// unchanged, both ways; a half-close (shutdown) on one side is passed on to
// the other. A client whose upstream connection fails (nothing listening) is
// reset, as the server itself would refuse it. One thread moves the bytes,
// through 64 KiB buffers per direction; TCP_NODELAY is set on both sides, so
// request/response protocols see no added delay. Every cut is a reset (RST:
// SO_LINGER {1, 0}), so the peers see ECONNRESET or end of file, and bytes
// the proxy still held for them are lost -- as when a server dies.
//
// Modes: forward (the default) and stall; refuse, cut_after and limit_rate
// apply on top of either. Each setter below has taken effect when it returns: no byte
// moves under the old mode afterwards.
//
// Thread safety: every method may be called from any thread while traffic
// flows. The proxy is move-only; a moved-from proxy may only be destroyed or
// assigned to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace webook::testing {

class FaultProxy {
public:
    // Resolves the upstream (a name or a numeric address; IPv4 preferred),
    // binds 127.0.0.1:0 and starts the proxy thread. Throws
    // std::runtime_error naming the upstream or the failing call if the port
    // is not in 1..65535, the name does not resolve or the socket cannot be
    // set up. The upstream need not be listening yet: each accepted
    // connection connects to it anew.
    FaultProxy(std::string upstream_host, int upstream_port);
    // Stops the thread and resets every open connection; returns promptly
    // whatever the peers do, with no thread or descriptor left behind.
    ~FaultProxy();
    FaultProxy(FaultProxy&&) noexcept;
    FaultProxy& operator=(FaultProxy&&) noexcept;

    // The port clients connect to, on 127.0.0.1.
    int port() const;

    // Normal mode (the default): bytes pass both ways; ends a stall, and the
    // bytes the stall held pass on intact and in order.
    void forward();
    // Stops moving bytes in both directions until forward(): nothing is read
    // from or written to any connection, so the data waits in the kernels'
    // buffers and senders eventually block. Connections stay open; new ones
    // are accepted and connected upstream, but stalled too.
    void stall();
    // Resets every connection open now -- both halves, RST -- including any
    // whose connect() had completed before the call but that the proxy had
    // not accepted yet. Later connections are accepted as usual (unless
    // refusing).
    void cut_all();
    // While true, each new connection is accepted and reset at once, without
    // connecting upstream (the server is down or restarting); connections
    // already open are left alone -- cut_all() them for an outage. false
    // (the default) accepts again.
    void refuse(bool refusing);
    // Resets each connection once it has forwarded `bytes` more bytes,
    // counted from this call (from its start for later connections), summed
    // over both directions, per connection. Exactly `bytes` are forwarded
    // before the reset, though the last of them may be lost with it. A new
    // call restarts every count; 0 (the default) never cuts.
    void cut_after(std::uint64_t bytes);

    // Limits the bytes forwarded, summed over every connection and both
    // directions, to `bytes_per_second` (a token bucket holding at most a
    // twentieth of a second's bytes, or 16 KiB if more): a slow link. 0 (the
    // default) lifts the limit. A stall still holds everything.
    void limit_rate(std::uint64_t bytes_per_second);

    // Counters for assertions; they lag the network by the time the proxy
    // thread takes to notice, so wait for a value rather than expect it.
    std::size_t connections() const;        // client connections open now
    std::uint64_t accepted() const;         // accepted since start, refused ones included
    std::uint64_t bytes_forwarded() const;  // written on, both directions, all connections

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

}  // namespace webook::testing
