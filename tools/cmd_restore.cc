// vproc restore: bring a checkpointed process back from its image, in this
// process (same pid): check everything, rebuild the descriptor table and the
// attributes that survive execve, then exec vproc-restorer with the plan
// (ckpt/restore_plan.h), which rebuilds the memory and resumes the program.
// Every failure happens before the exec and leaves nothing started.
//
// --guest MIGRATION (vprocd's, for a migration: docs/cluster.md step 3; the
// id in hexadecimal, as the daemon logs it): the
// vpid may be another node's, the checks done, the command splits off the
// guest's keeper (guest_keeper.h) and the child goes on; the restored
// process waits for the daemon's word before it runs (ckpt_restore.cc).
// Failures go to --report-fd as one line as well, and exit 1.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <set>

#include "fd_table_restore.h"
#include "guest_keeper.h"
#include "image_reader.h"
#include "plan_builder.h"
#include "restore_attrs.h"
#include "restore_checks.h"
#include "restore_register.h"
#include "subcommand.h"
#include "tool_error.h"
#include "vpid_space.h"

extern char** environ;

namespace vproc::tools {
namespace {

constexpr const char kUsage[] =
    "Usage: vproc restore [--eager] [--no-verify] IMAGE\n"
    "Restore the process checkpointed in IMAGE, in place of this command: it\n"
    "gets its virtual PID, memory, open files, working directory and signal\n"
    "handlers back, and continues where it was checkpointed. Its stdin,\n"
    "stdout and stderr are this command's where they were a terminal, pipe or\n"
    "socket; regular files are reopened at their offsets like its other files.\n"
    "\n"
    "  --eager      read all memory from the image now (default: map it from the\n"
    "               image and read pages on first use; the image must then stay)\n"
    "  --no-verify  skip checking the hashes of the image's page data\n"
    "Refused, before anything starts: another kernel or CPU, changed or missing\n"
    "files, a vpid that belongs to another node.\n"
    "Exit status: the restored process's; 1 if it cannot be restored, 2 for a\n"
    "usage error or an unreachable daemon.\n"
    "\n"
    "For vprocd's migrations only: --guest MIGRATION [--report-fd N] restores a\n"
    "guest (any node's vpid; it runs once the daemon says so) for the migration\n"
    "with that id (hexadecimal, as vprocd logs it), under a keeper process that\n"
    "reports its exit; a failure is also written to fd N as one line, and every\n"
    "failure exits 1.\n";

// Our descriptors go above every number the image uses (and above 1000, out
// of the way of whatever the program opens next before the handler closes
// what is left).
constexpr int kHighFdBase = 1000;

struct Options {
  restore::RestoreMode mode = restore::RestoreMode::Lazy;
  bool verify = true;
  std::string image;
  uint64_t migration = 0;  // --guest: 0 for a plain restore
  int report_fd = -1;      // --report-fd, moved out of the image's way later
};

// A number in base 10 or 16 (digits only, no prefix) in [min, max], or false.
bool parse_number(const std::string& text, unsigned base, uint64_t min, uint64_t max, uint64_t& out) {
  if (text.empty()) return false;
  uint64_t v = 0;
  for (char ch : text) {
    unsigned d = ch >= '0' && ch <= '9'                ? unsigned(ch - '0')
                 : base == 16 && ch >= 'a' && ch <= 'f' ? unsigned(ch - 'a' + 10)
                 : base == 16 && ch >= 'A' && ch <= 'F' ? unsigned(ch - 'A' + 10)
                                                        : base;
    if (d >= base || v > (UINT64_MAX - d) / base) return false;
    v = v * base + d;
  }
  if (v < min || v > max) return false;
  out = v;
  return true;
}

// Fills `o` as far as it gets (a failure can still be reported to the
// --report-fd seen so far).
void parse(const std::vector<std::string>& args, Options& o) {
  bool operands = false;
  auto value_of = [&](size_t& i, const char* option) -> const std::string& {
    if (i + 1 == args.size()) throw ToolError(kExitUsage, std::string("option '") + option + "' needs a value");
    return args[++i];
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!operands && a == "--") {
      operands = true;
    } else if (!operands && a == "--eager") {
      o.mode = restore::RestoreMode::Eager;
    } else if (!operands && a == "--no-verify") {
      o.verify = false;
    } else if (!operands && a == "--guest") {
      const std::string& v = value_of(i, "--guest");
      if (!parse_number(v, 16, 1, UINT64_MAX, o.migration))
        throw ToolError(kExitUsage, "--guest needs a migration id (hexadecimal, not 0), not '" + v + "'");
    } else if (!operands && a == "--report-fd") {
      const std::string& v = value_of(i, "--report-fd");
      uint64_t fd = 0;
      if (!parse_number(v, 10, 3, INT_MAX, fd))
        throw ToolError(kExitUsage, "--report-fd needs a descriptor number above 2, not '" + v + "'");
      if (fcntl(int(fd), F_GETFD) < 0)
        throw ToolError(kExitUsage, "--report-fd " + v + ": " + strerror(errno));
      o.report_fd = int(fd);
    } else if (!operands && a.size() > 1 && a[0] == '-') {
      throw ToolError(kExitUsage, "unknown option '" + a + "' (see 'vproc restore --help')");
    } else if (o.image.empty()) {
      o.image = a;
    } else {
      throw ToolError(kExitUsage, "unexpected argument '" + a + "' (see 'vproc restore --help')");
    }
  }
  if (o.report_fd >= 0 && !o.migration) throw ToolError(kExitUsage, "--report-fd goes with --guest");
  if (o.image.empty()) throw ToolError(kExitUsage, "which image? (see 'vproc restore --help')");
}

// A failure of --guest as the daemon reads it: one line on the report fd.
void report_failure(int fd, const std::string& what) {
  if (fd < 0) return;
  std::string line = what;
  while (!line.empty() && line.back() == '\n') line.pop_back();
  for (size_t at; (at = line.find('\n')) != std::string::npos;) line.replace(at, 1, "; ");
  line += '\n';
  for (size_t done = 0; done < line.size();) {
    ssize_t n = write(fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += size_t(n);
  }
}

[[noreturn]] void fail(const std::string& why) { throw ToolError(kExitFailed, why); }

// $VPROC_RESTORER, else vproc-restorer beside this program.
std::string restorer_path() {
  if (const char* env = getenv("VPROC_RESTORER"); env && *env) return env;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) fail(std::string("cannot find this program: ") + strerror(errno));
  std::string dir(self, size_t(n));
  return dir.substr(0, dir.rfind('/') + 1) + "vproc-restorer";
}

// FD moved to the lowest free number >= BASE, without close-on-exec (it must
// reach the restorer); the original is closed.
int to_high(int fd, int base, const char* what) {
  int h = fcntl(fd, F_DUPFD, base);
  if (h < 0) fail(std::string("cannot place the ") + what + " descriptor: " + strerror(errno));
  close(fd);
  return h;
}

void check_home_node(CliContext& ctx, uint32_t vpid) {
  if (!valid_vpid(vpid)) fail("the image's vpid " + std::to_string(vpid) + " is not a virtual PID");
  DaemonClient& d = ctx.daemon();
  wire::Reply rep = d.call(wire::Ping{});
  auto* p = std::get_if<wire::Pong>(&rep);
  if (!p) throw DaemonError("unexpected reply to Ping from the vproc daemon at " + d.socket_path());
  uint32_t home = home_node_of(VPid{vpid});
  if (home != p->node_index)
    fail("vpid " + std::to_string(vpid) + " belongs to node " + std::to_string(home) + "; restoring on node " +
         std::to_string(p->node_index) + " needs the cluster");
}

// Every descriptor not in KEEP is closed by the exec, whatever its origin.
void cloexec_all_but(const std::set<int>& keep) {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return;
  std::vector<int> fds;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') fds.push_back(atoi(e->d_name));
  int self = dirfd(d);
  for (int fd : fds)
    if (fd != self && !keep.count(fd)) fcntl(fd, F_SETFD, FD_CLOEXEC);
  closedir(d);
}

// A plan to hand over: a memfd at a high number, not close-on-exec.
int plan_memfd(int base) {
  int fd = memfd_create("vproc-restore-plan", MFD_CLOEXEC);
  if (fd < 0) fail(std::string("cannot create the plan's memfd: ") + strerror(errno));
  return to_high(fd, base, "plan");
}

void write_all(int fd, const std::vector<uint8_t>& bytes) {
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(std::string("cannot write the restore plan: ") + strerror(errno));
    done += size_t(n);
  }
}

int run_restore(CliContext& ctx, Options& opt) {
  const std::string restorer = restorer_path();
  if (access(restorer.c_str(), X_OK) != 0) fail("cannot run " + restorer + ": " + strerror(errno));

  // Plenty of room for our descriptors above the image's.
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }

  image::ImageFile img = image::ImageFile::open(opt.image);
  const image::Image& im = img.image();
  restore::check_layout(im);
  restore::HostInfo host = restore::probe_host();
  restore::check_kernel(im, host);
  restore::check_cpu(im, host);
  if (!opt.migration) {
    check_home_node(ctx, im.process.vpid);
  } else if (!valid_vpid(im.process.vpid)) {
    // A guest's vpid is any node's: the daemon checks that the migration expects it.
    fail("the image's vpid " + std::to_string(im.process.vpid) + " is not a virtual PID");
  }
  if (opt.verify) img.verify_data();  // reads all of it: after the quick checks

  int base = kHighFdBase;
  for (const image::Fd& f : im.fds) base = std::max(base, f.fd + 1);
  if (opt.report_fd >= 0) {  // above the image's numbers: install_fds must not take it
    int h = fcntl(opt.report_fd, F_DUPFD_CLOEXEC, base);
    if (h < 0) fail(std::string("cannot place the report descriptor: ") + strerror(errno));
    close(opt.report_fd);
    opt.report_fd = h;
  }
  std::set<int> keep;
  restore::PlanFds fds;
  fds.files = restore::open_mapped_files(im);
  for (int& fd : fds.files)
    if (fd >= 0) keep.insert(fd = to_high(fd, base, "mapped file"));
  fds.image = fcntl(img.fd(), F_DUPFD, base);
  if (fds.image < 0) fail(std::string("cannot place the image descriptor: ") + strerror(errno));
  fds.plan = plan_memfd(base);
  keep.insert({fds.image, fds.plan});

  std::vector<PreparedFd> prepared = prepare_fds(img, base);
  for (const PreparedFd& p : prepared) {
    keep.insert(p.target);
    if (p.cloexec) fds.cloexec.push_back(p.target);
  }

  struct stat st;
  if (fstat(fds.image, &st) != 0) fail(std::string("cannot stat the image: ") + strerror(errno));
  restore::Plan plan = restore::build_plan(im, {opt.mode, uint64_t(st.st_dev), uint64_t(st.st_ino)}, fds);
  // Pages come from the image until the handler has made them private: a read
  // lease makes whoever opens the image for writing wait for that (the
  // handler releases it; the kernel breaks it anyway after
  // /proc/sys/fs/lease-break-time seconds). Taking a lease makes us its owner
  // for the break notification, SIGIO by default, which would kill a program
  // that does not expect it: no owner, no signal.
  if (plan.maps_image && fcntl(fds.image, F_SETLEASE, F_RDLCK) == 0) {
    fcntl(fds.image, F_SETOWN, 0);
    plan.info().flags |= VPROC_RESTORE_LEASED;
  }
  // /proc/PID/exe is the restorer's until the handler points it back at the
  // program (PR_SET_MM_EXE_FILE, once the restorer is unmapped): it gets its
  // own descriptor of the (already checked) executable.
  for (size_t i = 0; i < im.files.size(); ++i) {
    if (im.files[i].path != im.process.exe_path || i >= fds.files.size() || fds.files[i] < 0) continue;
    int exe = fcntl(fds.files[i], F_DUPFD, base);
    if (exe >= 0) {
      keep.insert(exe);
      plan.info().exe_fd = exe;
    }
    break;
  }
  // The restored process talks to the daemon we register it with.
  const std::string socket = ctx.socket_path();
  vproc_restore_info& info = plan.info();
  if (socket[0] == '/' && socket.size() < sizeof info.socket_path)
    memcpy(info.socket_path, socket.c_str(), socket.size() + 1);
  info.migration = opt.migration;
  write_all(fds.plan, plan.bytes);

  // A guest's keeper is its parent: split off now that every check has
  // passed and nothing is changed yet. The child goes on; it has no daemon
  // connection yet (the daemon takes the pid of Restored from the connection).
  if (opt.migration) split_off_keeper(socket, im.process.vpid);
  restore_cwd(im.process);
  restore_limits_and_mode(im.process);
  if (int e = register_restored(ctx, im.process.vpid, im.process.parent_vpid, opt.migration); e != 0)
    fail("the daemon refused vpid " + std::to_string(im.process.vpid) + ": " + strerror(e));

  // From here on the descriptors are the process's.
  install_fds(prepared);
  cloexec_all_but(keep);
  // Every signal stays blocked until the resumed handler returns: it restores
  // the program's own mask then (rt_sigreturn).
  uint64_t all = ~0ull, old = 0;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, sizeof all);
  std::string fd_text = std::to_string(fds.plan);
  char* const argv[] = {const_cast<char*>("vproc-restorer"), fd_text.data(), nullptr};
  execve(restorer.c_str(), argv, environ);
  int e = errno;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, sizeof old);
  fail("cannot run " + restorer + ": " + strerror(e));
}

// Every failure of --guest exits 1, its message also on the report fd.
[[noreturn]] void guest_failed(const Options& opt, const char* what) {
  report_failure(opt.report_fd, what);
  throw ToolError(kExitFailed, what);
}

int run(CliContext& ctx, const std::vector<std::string>& args) {
  Options opt;
  bool guest = std::find(args.begin(), args.end(), "--guest") != args.end();
  try {
    parse(args, opt);
    return run_restore(ctx, opt);
  } catch (const image::ImageError& e) {
    if (guest) guest_failed(opt, e.what());
    throw ToolError(kExitFailed, e.what());
  } catch (const restore::RestoreError& e) {
    if (guest) guest_failed(opt, e.what());
    throw ToolError(kExitFailed, e.what());
  } catch (const ToolError& e) {  // DaemonError too
    if (guest) guest_failed(opt, e.what());
    throw;
  }
}

}  // namespace

const Subcommand kRestoreCommand{"restore", "restore a checkpointed process from its image", kUsage, run};

}  // namespace vproc::tools
