#include "proc_path.h"

#include <errno.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>

using namespace vproc::lib;

namespace {

// A fake node: vpid 4194305 is real 1000 (its main thread too), vtid 4194306 is
// real thread 1001 of it, vpid 4194400 is nobody, vpid 4194500 runs on another node.
long fake_to_real(IdKind, long v, void*) {
  switch (v) {
    case 4194305: return 1000;
    case 4194306: return 1001;
    case 4194500: return -EREMOTE;
    default: return -ESRCH;
  }
}
long fake_to_virtual(IdKind kind, long r, void*) {
  if (r == 1000) return 4194305;
  if (r == 1001 && kind == IdKind::Task) return 4194306;
  return r;
}
const IdMap kMap{fake_to_virtual, fake_to_real, nullptr};

struct Rewrite {
  ProcPathResult result;
  std::string path;  // the rewritten path, or the input when Unchanged
  ProcPathInfo info;
};

Rewrite rewrite(const char* in, size_t cap = 4096) {
  char out[8192];
  memset(out, 'X', sizeof out);
  Rewrite r{};
  r.result = rewrite_proc_path(in, kMap, out, cap, &r.info);
  if (r.result == ProcPathResult::Rewritten) {
    REQUIRE(strlen(out) < cap);
    r.path = out;
  } else {
    r.path = in;
  }
  return r;
}

std::string link_back(const std::string& target, ProcLink link, ProcPathResult* res = nullptr,
                      size_t cap = 4096) {
  char out[8192];
  size_t n = 12345;
  ProcPathResult r = proc_link_to_virtual(target.data(), target.size(), link, kMap, out, cap, &n);
  if (res) *res = r;
  if (r == ProcPathResult::Rewritten) return std::string(out, n);
  CHECK(n == 0);
  return target;
}

}  // namespace

TEST_CASE("proc_path: a vpid becomes the real pid") {
  auto r = rewrite("/proc/4194305");
  CHECK(r.result == ProcPathResult::Rewritten);
  CHECK(r.path == "/proc/1000");
  CHECK(r.info.leaf == ProcLeaf::Other);
  CHECK(r.info.link == ProcLink::None);

  CHECK(rewrite("/proc/4194305/").path == "/proc/1000/");
  CHECK(rewrite("/proc/4194305/fd/3").path == "/proc/1000/fd/3");
  CHECK(rewrite("/proc/4194305/root/proc/4194305").path == "/proc/1000/root/proc/4194305");
}

TEST_CASE("proc_path: status and stat leaves are recognised") {
  auto r = rewrite("/proc/4194305/status");
  CHECK(r.result == ProcPathResult::Rewritten);
  CHECK(r.path == "/proc/1000/status");
  CHECK(r.info.leaf == ProcLeaf::Status);

  r = rewrite("/proc/4194305/stat");
  CHECK(r.path == "/proc/1000/stat");
  CHECK(r.info.leaf == ProcLeaf::Stat);

  // A real pid is not rewritten, but its status is still one to serve rewritten.
  r = rewrite("/proc/123/status");
  CHECK(r.result == ProcPathResult::Unchanged);
  CHECK(r.info.leaf == ProcLeaf::Status);

  CHECK(rewrite("/proc/self/stat").info.leaf == ProcLeaf::Stat);
  CHECK(rewrite("/proc/thread-self/status").info.leaf == ProcLeaf::Status);
  CHECK(rewrite("/proc/self/task/1001/stat").info.leaf == ProcLeaf::Stat);

  // Not the files themselves.
  CHECK(rewrite("/proc/4194305/statm").info.leaf == ProcLeaf::Other);
  CHECK(rewrite("/proc/4194305/stat/").info.leaf == ProcLeaf::Other);   // ENOTDIR from the kernel
  CHECK(rewrite("/proc/4194305/status/x").info.leaf == ProcLeaf::Other);
  CHECK(rewrite("/proc/4194305/statusx").info.leaf == ProcLeaf::Other);
  CHECK(rewrite("/proc/4194305/fd/status").info.leaf == ProcLeaf::Other);
  CHECK(rewrite("/proc/sys/status").info.leaf == ProcLeaf::Other);
  CHECK(rewrite("/proc/status").info.leaf == ProcLeaf::Other);
  CHECK(rewrite("/proc/stat").info.leaf == ProcLeaf::Other);  // the system-wide file
}

TEST_CASE("proc_path: real pids and non-pid entries are unchanged") {
  for (const char* p : {"/proc/123", "/proc/123/status", "/proc/1", "/proc/4194303",
                        "/proc/self/fd", "/proc/self/fd/", "/proc/thread-self/comm",
                        "/proc/cpuinfo", "/proc/sys/kernel/pid_max", "/proc/", "/proc//",
                        "/proc/4194305x", "/proc/x4194305", "/proc/-4194305", "/proc/+4194305",
                        "/proc/04194305",  // leading zero: the kernel's lookup refuses it
                        "/proc/selfish", "/proc/self-thread"}) {
    INFO(p);
    auto r = rewrite(p);
    CHECK(r.result == ProcPathResult::Unchanged);
  }
}

TEST_CASE("proc_path: paths that are not under /proc are never touched") {
  for (const char* p : {"/procfoo/4194305", "/proc", "proc/4194305", "4194305", "./proc/4194305",
                        "//proc/4194305", "/PROC/4194305", "/tmp/proc/4194305", "", "/"}) {
    INFO(p);
    auto r = rewrite(p);
    CHECK(r.result == ProcPathResult::Unchanged);
    CHECK(r.info.leaf == ProcLeaf::Other);
    CHECK(r.info.link == ProcLink::None);
  }
  CHECK_FALSE(starts_with_proc(nullptr));
  CHECK_FALSE(starts_with_proc("/proc"));
  CHECK(starts_with_proc("/proc/"));
}

TEST_CASE("proc_path: repeated slashes are accepted and kept") {
  auto r = rewrite("/proc//4194305");
  CHECK(r.result == ProcPathResult::Rewritten);
  CHECK(r.path == "/proc//1000");
  r = rewrite("/proc///4194305//status");
  CHECK(r.path == "/proc///1000//status");
  CHECK(r.info.leaf == ProcLeaf::Status);
  r = rewrite("/proc/4194305//task///4194306//stat");
  CHECK(r.path == "/proc/1000//task///1001//stat");
  CHECK(r.info.leaf == ProcLeaf::Stat);
}

TEST_CASE("proc_path: thread ids under task/ are translated") {
  auto r = rewrite("/proc/4194305/task/4194306");
  CHECK(r.path == "/proc/1000/task/1001");
  r = rewrite("/proc/4194305/task/4194306/status");
  CHECK(r.path == "/proc/1000/task/1001/status");
  CHECK(r.info.leaf == ProcLeaf::Status);
  r = rewrite("/proc/self/task/4194306/comm");
  CHECK(r.result == ProcPathResult::Rewritten);
  CHECK(r.path == "/proc/self/task/1001/comm");
  r = rewrite("/proc/123/task/4194306");
  CHECK(r.path == "/proc/123/task/1001");
  // The main thread's vtid is the process's vpid.
  CHECK(rewrite("/proc/4194305/task/4194305").path == "/proc/1000/task/1000");
  // Only the first level: deeper numbers are not ids of ours.
  CHECK(rewrite("/proc/123/task/123/fd/4194305").result == ProcPathResult::Unchanged);
  // A thread directory has no task/ entry: left for the kernel to refuse.
  CHECK(rewrite("/proc/thread-self/task/4194306").result == ProcPathResult::Unchanged);
  // A hidden /proc/<tid> entry.
  CHECK(rewrite("/proc/4194306/status").path == "/proc/1001/status");
}

TEST_CASE("proc_path: a vpid that maps to nothing is NoSuchProcess") {
  CHECK(rewrite("/proc/4194400").result == ProcPathResult::NoSuchProcess);
  CHECK(rewrite("/proc/4194400/status").result == ProcPathResult::NoSuchProcess);
  CHECK(rewrite("/proc/4194500/status").result == ProcPathResult::NoSuchProcess);  // remote
  CHECK(rewrite("/proc/4194305/task/4194400").result == ProcPathResult::NoSuchProcess);
  CHECK(rewrite("/proc/self/task/4194400/stat").result == ProcPathResult::NoSuchProcess);
}

TEST_CASE("proc_path: numbers in the virtual range that are no vpid are left to the kernel") {
  // 2^22 has serial 0 (never used); 2^31-1 fits, 2^31 does not fit a pid_t;
  // beyond 10 digits is no number at all. The kernel says ENOENT for each.
  for (const char* p : {"/proc/4194304", "/proc/2147483648", "/proc/99999999999",
                        "/proc/184467440737095516160", "/proc/4194304/task/4194304"}) {
    INFO(p);
    CHECK(rewrite(p).result == ProcPathResult::Unchanged);
  }
}

TEST_CASE("proc_path: overly long paths") {
  std::string tail(5000, 'a');
  std::string p = "/proc/4194305/" + tail;
  CHECK(rewrite(p.c_str(), 4096).result == ProcPathResult::TooLong);
  // Just fitting: the result (shorter by 3 digits) plus NUL in 4096 bytes.
  std::string fits = "/proc/4194305/" + std::string(4096 - 1 - 14 + 3, 'b');
  auto r = rewrite(fits.c_str(), 4096);
  CHECK(r.result == ProcPathResult::Rewritten);
  CHECK(r.path.size() == 4095);
  // Unchanged paths are never measured: the kernel judges their length itself.
  std::string real = "/proc/123/" + tail;
  CHECK(rewrite(real.c_str(), 4096).result == ProcPathResult::Unchanged);
  // A tiny buffer.
  CHECK(rewrite("/proc/4194305", 10).result == ProcPathResult::TooLong);
  CHECK(rewrite("/proc/4194305", 11).result == ProcPathResult::Rewritten);
}

TEST_CASE("proc_path: the magic links are recognised exactly") {
  CHECK(rewrite("/proc/self").info.link == ProcLink::Self);
  CHECK(rewrite("/proc//self").info.link == ProcLink::Self);
  CHECK(rewrite("/proc/thread-self").info.link == ProcLink::ThreadSelf);
  CHECK(rewrite("/proc/self/").info.link == ProcLink::None);
  CHECK(rewrite("/proc/self/exe").info.link == ProcLink::None);
  CHECK(rewrite("/proc/4194305").info.link == ProcLink::None);
}

TEST_CASE("proc_path: readlink of self and thread-self goes back to virtual ids") {
  CHECK(link_back("1000", ProcLink::Self) == "4194305");
  CHECK(link_back("1000/task/1001", ProcLink::ThreadSelf) == "4194305/task/4194306");
  CHECK(link_back("1000/task/1000", ProcLink::ThreadSelf) == "4194305/task/4194305");
  ProcPathResult res;
  CHECK(link_back("777", ProcLink::Self, &res) == "777");  // not ours
  CHECK(res == ProcPathResult::Unchanged);
  CHECK(link_back("777/task/778", ProcLink::ThreadSelf, &res) == "777/task/778");
  CHECK(res == ProcPathResult::Unchanged);
  // Not the shape of these links: untouched.
  CHECK(link_back("/1000", ProcLink::Self) == "/1000");
  CHECK(link_back("1000x", ProcLink::Self) == "1000x");
  CHECK(link_back("1000/fd/1000", ProcLink::ThreadSelf) == "1000/fd/1000");
  CHECK(link_back("", ProcLink::Self) == "");
}

TEST_CASE("proc_path: absolute /proc link targets go back to virtual ids") {
  CHECK(link_back("/proc/1000", ProcLink::None) == "/proc/4194305");
  CHECK(link_back("/proc/1000/task/1001/fd", ProcLink::None) == "/proc/4194305/task/4194306/fd");
  CHECK(link_back("/proc/1001", ProcLink::None) == "/proc/4194306");  // a thread's entry
  CHECK(link_back("/proc/777/cwd", ProcLink::None) == "/proc/777/cwd");
  CHECK(link_back("/proc/sys", ProcLink::None) == "/proc/sys");
  CHECK(link_back("/usr/bin/cat", ProcLink::None) == "/usr/bin/cat");
  CHECK(link_back("pipe:[1000]", ProcLink::None) == "pipe:[1000]");
  CHECK(link_back("/proc", ProcLink::None) == "/proc");
  CHECK(link_back("/proc/10000", ProcLink::None) == "/proc/10000");
  // The target is not NUL-terminated: only `len` bytes count.
  char out[64];
  size_t n = 0;
  CHECK(proc_link_to_virtual("1000999", 4, ProcLink::Self, kMap, out, sizeof out, &n) ==
        ProcPathResult::Rewritten);
  CHECK(std::string(out, n) == "4194305");
}

TEST_CASE("proc_path: readlink results that do not fit report TooLong") {
  ProcPathResult res;
  link_back("1000", ProcLink::Self, &res, 6);
  CHECK(res == ProcPathResult::TooLong);
  CHECK(link_back("1000", ProcLink::Self, &res, 7) == "4194305");
  CHECK(res == ProcPathResult::Rewritten);
}

TEST_CASE("proc_path: thread-list directories are recognised") {
  CHECK(is_proc_task_dir("/proc/self/task"));
  CHECK(is_proc_task_dir("/proc/self/task/"));
  CHECK(is_proc_task_dir("/proc/1000/task"));
  CHECK(is_proc_task_dir("/proc//1000//task//"));
  CHECK_FALSE(is_proc_task_dir("/proc/self/task/1001"));
  CHECK_FALSE(is_proc_task_dir("/proc/self"));
  CHECK_FALSE(is_proc_task_dir("/proc/thread-self/task"));
  CHECK_FALSE(is_proc_task_dir("/proc/sys/task"));
  CHECK_FALSE(is_proc_task_dir("/proc/self/taskx"));
  CHECK_FALSE(is_proc_task_dir("/tmp/self/task"));
  CHECK_FALSE(is_proc_task_dir("proc/self/task"));
}
