// vproc-shadow VPID MIGRATION TARGET: what a migrated process becomes on its
// home node (docs/cluster.md, "Migration", steps 4-6).
// vproc-shadow --child PARENT CHILD GUEST: a guest's stand-in for a child its
// process left behind (child_standin.h).
// vproc-shadow --linger VPID: a guest that moved on, staying as its children's
// parent (shadow_linger.h).
//
// The process's checkpoint handler execs this in place once its guest runs on
// node TARGET: the same pid and parent, so the parent's wait() and SIGCHLD keep
// working, with the process's stdio as fds 0-2 and VPROC_SOCKET in the
// environment. From then on it relays stdio to and from the guest, forwards
// its signals to the guest, stops when the guest stops, and exits as the guest
// exits (shadow_session.h).
//
// It is linked statically: the environment it inherits names libvproc in
// LD_PRELOAD, and the loader of a static program loads nothing.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "child_standin.h"
#include "runtime_paths.h"
#include "shadow_linger.h"
#include "shadow_session.h"
#include "shadow_signals.h"
#include "vpid_space.h"

namespace {

constexpr int kExitUsage = 255;

bool parse_number(const char* s, uint64_t max, uint64_t& out) {
  if (!s || !*s || *s == '-' || *s == '+') return false;
  char* end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v > max) return false;
  out = v;
  return true;
}

// Descriptors above 2 belong to the program that is gone (its daemon
// connection, files, sockets): the guest has its own now.
void close_inherited() {
  if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0) return;
  long max = sysconf(_SC_OPEN_MAX);
  for (int fd = 3; fd < (max > 0 ? max : 1024); ++fd) close(fd);
}

// Puts /dev/null where the original had no fd 0, 1 or 2, so the shadow's own
// sockets never take those numbers. Returns the bits of the ones it filled.
unsigned fill_stdio() {
  unsigned closed = 0;
  for (int fd = 0; fd < 3; ++fd) {
    if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    closed |= 1u << fd;
    int n = open("/dev/null", O_RDWR);  // the lowest free number: this one
    if (n >= 0 && n != fd) close(n);
  }
  return closed;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace vproc;
  close_inherited();
  unsigned closed = fill_stdio();

  uint64_t vpid = 0, migration = 0, target = 0;
  if (argc == 5 && strcmp(argv[1], "--child") == 0) {
    uint64_t parent = 0, child = 0, guest = 0;
    char socket_path[PATH_MAX];
    if (!parse_number(argv[2], UINT32_MAX, parent) || !valid_vpid(int64_t(parent)) ||
        !parse_number(argv[3], UINT32_MAX, child) || !valid_vpid(int64_t(child)) ||
        !parse_number(argv[4], UINT32_MAX, guest) || !resolve_socket_path(socket_path, sizeof socket_path))
      return kExitUsage;
    shadow::run_child_standin(uint32_t(parent), uint32_t(child), uint32_t(guest), socket_path);
  }
  if (argc == 3 && strcmp(argv[1], "--linger") == 0) {
    char socket_path[PATH_MAX];
    if (!parse_number(argv[2], UINT32_MAX, vpid) || !valid_vpid(int64_t(vpid)) ||
        !resolve_socket_path(socket_path, sizeof socket_path))
      return kExitUsage;
    shadow::run_linger(uint32_t(vpid), socket_path);
  }
  if (argc != 4 || !parse_number(argv[1], UINT32_MAX, vpid) || !valid_vpid(int64_t(vpid)) ||
      !parse_number(argv[2], UINT64_MAX, migration) || !parse_number(argv[3], UINT32_MAX, target)) {
    fprintf(stderr, "usage: vproc-shadow VPID MIGRATION TARGET (started by a migrating process, not by hand)\n");
    return kExitUsage;
  }
  char socket_path[PATH_MAX];
  if (!resolve_socket_path(socket_path, sizeof socket_path)) {
    fprintf(stderr, "vproc-shadow: vpid %llu: the daemon's socket path is too long\n", (unsigned long long)vpid);
    return kExitUsage;
  }
  int signal_fd = shadow::take_signals();
  if (signal_fd < 0) {
    fprintf(stderr, "vproc-shadow: vpid %llu: signalfd: %s\n", (unsigned long long)vpid, strerror(-signal_fd));
    return kExitUsage;
  }
  shadow::ShadowArgs args{uint32_t(vpid), migration, uint32_t(target)};
  shadow::ShadowSession(args, socket_path, signal_fd, closed).run();
}
