#include "host_info.h"

#include <cpuid.h>
#include <signal.h>
#include <sys/utsname.h>
#include <xxhash.h>

#include <cstdio>
#include <cstring>

#include "restore_error.h"

namespace vproc::restore {
namespace {

// The fxsave area's software-reserved bytes (offset 464) describe the XSAVE
// frame that follows: the kernel fills them in every signal frame.
constexpr size_t kSwReservedOffset = 464;
constexpr uint32_t kFpXstateMagic1 = 0x46505853;

struct FrameInfo {
  uint64_t xfeatures = 0;
  uint32_t xstate_size = 0;
};
FrameInfo g_frame;  // written by the probe's handler, read right after

void frame_probe(int, siginfo_t*, void* ctx) {
  const ucontext_t* uc = static_cast<const ucontext_t*>(ctx);
  const char* fp = reinterpret_cast<const char*>(uc->uc_mcontext.fpregs);
  if (!fp) return;
  uint32_t magic1, xstate_size;
  uint64_t xfeatures;
  std::memcpy(&magic1, fp + kSwReservedOffset, 4);
  std::memcpy(&xfeatures, fp + kSwReservedOffset + 8, 8);
  std::memcpy(&xstate_size, fp + kSwReservedOffset + 16, 4);
  if (magic1 != kFpXstateMagic1) return;
  g_frame.xfeatures = xfeatures;
  g_frame.xstate_size = xstate_size;
}

// The frame the kernel builds for a signal here: what rt_sigreturn will
// accept for the restored program's frame. SIGUSR2 with every other signal
// blocked, the previous action and mask put back.
FrameInfo probe_signal_frame() {
  struct sigaction sa {}, old {};
  sa.sa_sigaction = frame_probe;
  sa.sa_flags = SA_SIGINFO;
  sigfillset(&sa.sa_mask);
  sigset_t only, saved;
  sigfillset(&only);
  sigdelset(&only, SIGUSR2);
  g_frame = {};
  if (sigaction(SIGUSR2, &sa, &old) != 0) return g_frame;
  pthread_sigmask(SIG_SETMASK, &only, &saved);
  raise(SIGUSR2);
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  sigaction(SIGUSR2, &old, nullptr);
  return g_frame;
}

uint64_t read_xcr0() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t(hi) << 32) | lo;
}

}  // namespace

HostInfo probe_host() {
  HostInfo h;
  struct utsname u;
  if (uname(&u) == 0) h.kernel_release = u.release;
  FILE* f = fopen("/proc/self/maps", "re");
  if (!f) throw RestoreError(std::string("cannot read /proc/self/maps: ") + strerror(errno));
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    unsigned long long start, end;
    char name[64] = "";
    if (sscanf(line, "%llx-%llx %*s %*s %*s %*s %63s", &start, &end, name) < 2) continue;
    image::Range r{start, end};
    if (!strcmp(name, "[vvar]")) h.vvar = r;
    else if (!strcmp(name, "[vvar_vclock]")) h.vvar_vclock = r;
    else if (!strcmp(name, "[vdso]")) h.vdso = r;
  }
  fclose(f);
  if (!h.vdso.empty()) h.vdso_hash = XXH3_64bits(reinterpret_cast<const void*>(h.vdso.start), h.vdso.size());
  h.xcr0 = read_xcr0();
  FrameInfo fi = probe_signal_frame();
  h.xfeatures = fi.xfeatures;
  h.xstate_size = fi.xstate_size;
  return h;
}

}  // namespace vproc::restore
