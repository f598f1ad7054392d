#include "siginfo_pid.h"

#include <errno.h>

#include "pid_types.h"
#include "translate.h"
#include "preload_rules.h"

namespace vproc::lib {

void siginfo_pid_to_virtual(siginfo_t* info) {
  if (!siginfo_has_pid(info->si_signo, info->si_code) || info->si_pid <= 0) return;
  int saved = errno;
  info->si_pid = to_virtual_pid(info->si_pid);
  errno = saved;
}

void signalfd_pid_to_virtual(struct signalfd_siginfo* info) {
  pid_t pid = pid_t(info->ssi_pid);
  if (!siginfo_has_pid(int(info->ssi_signo), info->ssi_code) || pid <= 0) return;
  int saved = errno;
  info->ssi_pid = uint32_t(to_virtual_pid(pid));
  errno = saved;
}

void siginfo_pid_to_real(siginfo_t* info) {
  if (!siginfo_has_pid(info->si_signo, info->si_code) || !is_virtual_number(info->si_pid)) return;
  int saved = errno;
  long real = to_real_pid(info->si_pid);
  if (real > 0) info->si_pid = pid_t(real);
  errno = saved;
}

}  // namespace vproc::lib
