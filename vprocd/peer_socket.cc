#include "peer_socket.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "strf.h"

namespace vproc::daemon {

Status resolve_node(const ClusterNode& node, SocketAddress& out) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port = std::to_string(node.port);
  int r = getaddrinfo(node.host.c_str(), port.c_str(), &hints, &res);
  if (r != 0 || !res) {
    if (res) freeaddrinfo(res);
    return Status::failure(EHOSTUNREACH, strf("cannot resolve %s: %s", node.host.c_str(), gai_strerror(r)));
  }
  memcpy(&out.addr, res->ai_addr, res->ai_addrlen);
  out.len = res->ai_addrlen;
  freeaddrinfo(res);
  return Status::success();
}

std::string address_text(const sockaddr* sa, socklen_t len) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (sa->sa_family == AF_INET && len >= sizeof(sockaddr_in)) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return strf("%s:%u", host, port);
  }
  if (sa->sa_family == AF_INET6 && len >= sizeof(sockaddr_in6)) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
    return strf("[%s]:%u", host, port);
  }
  return "(unknown address)";
}

Status listen_on(const ClusterNode& node, int& fd_out) {
  SocketAddress a;
  Status s = resolve_node(node, a);
  if (!s.ok()) return s;
  int fd = socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::failure(errno, strf("socket: %s", strerror(errno)));
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a.addr), a.len) != 0 || listen(fd, 128) != 0) {
    int e = errno;
    close(fd);
    return Status::failure(e, strf("cannot listen on %s (node %s): %s", node.address.c_str(), node.name.c_str(),
                                   strerror(e)));
  }
  fd_out = fd;
  return Status::success();
}

Status start_connect(const SocketAddress& to, int& fd_out) {
  int fd = socket(to.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::failure(errno, strerror(errno));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&to.addr), to.len) != 0 && errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    return Status::failure(e, strerror(e));
  }
  tune_peer_socket(fd);
  fd_out = fd;
  return Status::success();
}

int connect_result(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

void tune_peer_socket(int fd) {
  int one = 1, idle = 10, interval = 3, count = 3;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

}  // namespace vproc::daemon
