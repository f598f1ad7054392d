// A scripted stand-in for vprocd in the tools' unit tests: listens on a
// socket in a temp dir, accepts one connection and hands it to `serve`.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>

namespace vproc::tools::test {

struct FakeDaemon {
  std::string dir, path;
  int listen_fd = -1;
  std::thread thread;

  explicit FakeDaemon(std::function<void(int)> serve) {
    char tmpl[] = "/tmp/vproc-tools-test-XXXXXX";
    dir = mkdtemp(tmpl);
    path = dir + "/vprocd.sock";
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    strcpy(a.sun_path, path.c_str());
    REQUIRE(bind(listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(listen_fd, 4) == 0);
    thread = std::thread([this, serve] {
      int c = accept(listen_fd, nullptr, nullptr);
      if (c < 0) return;
      serve(c);
      close(c);
    });
  }
  ~FakeDaemon() {
    shutdown(listen_fd, SHUT_RDWR);
    thread.join();
    close(listen_fd);
    unlink(path.c_str());
    rmdir(dir.c_str());
  }
};

}  // namespace vproc::tools::test
