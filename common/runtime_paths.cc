#include "runtime_paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <initializer_list>

#include "raw_syscall.h"

namespace vproc {
namespace {

constexpr const char kSystemSocket[] = "/run/vproc/vprocd.sock";

// Appends NUL-terminated pieces; false on overflow.
bool join(char* out, size_t len, std::initializer_list<const char*> parts) {
  size_t n = 0;
  for (const char* p : parts) {
    size_t l = strlen(p);
    if (n + l >= len) return false;
    memcpy(out + n, p, l);
    n += l;
  }
  out[n] = '\0';
  return true;
}

void utoa(unsigned v, char* buf) {
  char tmp[16];
  int i = 0;
  do tmp[i++] = char('0' + v % 10); while ((v /= 10) != 0);
  int j = 0;
  while (i) buf[j++] = tmp[--i];
  buf[j] = '\0';
}

bool per_user_path(char* out, size_t len) {
  const char* xdg = getenv("XDG_RUNTIME_DIR");
  if (xdg && *xdg) return join(out, len, {xdg, "/vproc/vprocd.sock"});
  char uid[16];
  utoa(unsigned(raw::sys(SYS_getuid)), uid);
  return join(out, len, {"/tmp/vproc-", uid, "/vprocd.sock"});
}

}  // namespace

bool resolve_socket_path(char* out, size_t len) {
  const char* env = getenv("VPROC_SOCKET");
  if (env && *env) return join(out, len, {env});
  struct stat st;
  if (raw::sys(SYS_getuid) == 0 || raw::sys(SYS_newfstatat, AT_FDCWD, kSystemSocket, &st, 0) == 0)
    return join(out, len, {kSystemSocket});
  return per_user_path(out, len);
}

bool default_daemon_socket_path(char* out, size_t len) {
  const char* env = getenv("VPROC_SOCKET");
  if (env && *env) return join(out, len, {env});
  if (raw::sys(SYS_getuid) == 0) return join(out, len, {kSystemSocket});
  return per_user_path(out, len);
}

bool table_path_for(const char* socket_path, char* out, size_t len) {
  size_t l = strlen(socket_path);
  const char suffix[] = ".sock";
  size_t keep = l;
  if (l >= 5 && memcmp(socket_path + l - 5, suffix, 5) == 0) keep = l - 5;
  if (keep + sizeof(".table") > len) return false;
  memcpy(out, socket_path, keep);
  memcpy(out + keep, ".table", sizeof(".table"));
  return true;
}

}  // namespace vproc
