/* Links -lvproc through an installed package and calls the C API. Run without
 * a daemon, the library is inactive and translations are the identity. */
#include <stdio.h>
#include <unistd.h>
#include <vproc/vproc.h>

int main(void) {
#if VPROC_API_VERSION < 1
#error "vproc.h too old"
#endif
  pid_t pid = getpid();
  printf("active=%d self=%d to_real=%d home_node(4194305)=%d\n", vproc_is_active(), (int)vproc_self(),
         (int)vproc_to_real(pid), vproc_home_node(4194305));
  return vproc_home_node(4194305) == 0 ? 0 : 1;
}
