/* whoami: the vproc C API, seen from a program linked with -lvproc.
 *
 *   cc whoami.c $(pkg-config --cflags --libs vproc)
 *
 * Prints whether virtual PIDs are active, this process's vpid and the real pid
 * it maps to, and checks that the translations agree with getpid(). Without a
 * daemon (run directly, not under vproc-run) the library stays inactive and the
 * translations return their argument. Exit status 0 if everything agreed.
 */
#include <stdio.h>
#include <unistd.h>
#include <vproc/vproc.h>

int main(void) {
  int active = vproc_is_active();
  pid_t pid = getpid();
  pid_t real = vproc_to_real(pid);
  printf("vproc_is_active()        = %d\n", active);
  printf("getpid()                 = %d\n", (int)pid);
  printf("getppid()                = %d\n", (int)getppid());
  printf("vproc_self()             = %d\n", (int)vproc_self());
  printf("vproc_to_real(getpid())  = %d\n", (int)real);
  printf("vproc_to_virtual(real)   = %d\n", (int)vproc_to_virtual(real));
  printf("vproc_node_index()       = %d\n", vproc_node_index());
  printf("vproc_home_node(getpid())= %d\n", vproc_home_node(pid));

  int ok = 1;
  if (active) {
    ok &= vproc_self() == pid;
    ok &= real > 0 && real != pid;
    ok &= vproc_to_virtual(real) == pid;
    ok &= vproc_home_node(pid) == vproc_node_index();
  } else {
    ok &= real == pid;
  }
  printf("%s\n", ok ? "whoami: consistent" : "whoami: INCONSISTENT");
  return ok ? 0 : 1;
}
