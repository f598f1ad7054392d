#include "proc_rewrite.h"

#include <errno.h>

#include <catch2/catch.hpp>
#include <string>

using namespace vproc::lib;

namespace {

// Real ids of a fake node: process 6040 (vpid 4194305) with thread 6041 (vtid
// 4194306), its parent 6038 (vpid 4194310, also a group leader), a tracer 6050
// (vpid 4194320). 3065 and 1 are not ours.
long fake_to_virtual(IdKind kind, long r, void*) {
  switch (r) {
    case 6040: return 4194305;
    case 6041: return kind == IdKind::Task ? 4194306 : 6041;
    case 6038: return 4194310;
    case 6050: return 4194320;
    default: return r;
  }
}
long fake_to_real(IdKind, long, void*) { return -ESRCH; }
const IdMap kMap{fake_to_virtual, fake_to_real, nullptr};

std::string status(const std::string& in, size_t cap = 65536) {
  std::string out(cap, '\0');
  long n = rewrite_proc_status(in.data(), in.size(), kMap, out.data(), cap);
  if (n < 0) return "error " + std::to_string(n);
  return out.substr(0, size_t(n));
}

std::string stat(const std::string& in, size_t cap = 4096) {
  std::string out(cap, '\0');
  long n = rewrite_proc_stat(in.data(), in.size(), kMap, out.data(), cap);
  if (n < 0) return "error " + std::to_string(n);
  return out.substr(0, size_t(n));
}

// /proc/self/status as read on the development machine (kernel 6.18), head and tail.
const std::string kStatusHead =
    "Name:\tcat\n"
    "Umask:\t0022\n"
    "State:\tR (running)\n";
const std::string kStatusTail =
    "Uid:\t0\t0\t0\t0\n"
    "Gid:\t0\t0\t0\t0\n"
    "FDSize:\t256\n"
    "Groups:\t \n"
    "Kthread:\t0\n"
    "VmPeak:\t    3060 kB\n"
    "VmSize:\t    3060 kB\n"
    "Threads:\t1\n"
    "SigQ:\t1/96365\n"
    "SigPnd:\t0000000000000000\n"
    "CapPrm:\t000001fffeffffff\n"
    "Cpus_allowed:\t3\n"
    "Cpus_allowed_list:\t0-1\n"
    "Mems_allowed_list:\t0\n"
    "voluntary_ctxt_switches:\t0\n"
    "nonvoluntary_ctxt_switches:\t0\n";

}  // namespace

TEST_CASE("proc_rewrite: a real /proc/self/status gets virtual ids") {
  std::string in = kStatusHead +
                   "Tgid:\t6040\n"
                   "Ngid:\t0\n"
                   "Pid:\t6040\n"
                   "PPid:\t6038\n"
                   "TracerPid:\t0\n" +
                   kStatusTail.substr(0, kStatusTail.find("Kthread")) +
                   "NStgid:\t6040\n"
                   "NSpid:\t6040\n"
                   "NSpgid:\t6038\n"
                   "NSsid:\t3065\n" +
                   kStatusTail.substr(kStatusTail.find("Kthread"));
  std::string want = kStatusHead +
                     "Tgid:\t4194305\n"
                     "Ngid:\t0\n"
                     "Pid:\t4194305\n"
                     "PPid:\t4194310\n"
                     "TracerPid:\t0\n" +
                     kStatusTail.substr(0, kStatusTail.find("Kthread")) +
                     "NStgid:\t4194305\n"
                     "NSpid:\t4194305\n"
                     "NSpgid:\t4194310\n"
                     "NSsid:\t3065\n" +
                     kStatusTail.substr(kStatusTail.find("Kthread"));
  CHECK(status(in) == want);
}

TEST_CASE("proc_rewrite: a thread's status has the thread id in Pid and NSpid") {
  std::string in = "Name:\tworker\nTgid:\t6040\nPid:\t6041\nPPid:\t6038\nTracerPid:\t6050\n"
                   "NStgid:\t6040\nNSpid:\t6041\n";
  std::string want = "Name:\tworker\nTgid:\t4194305\nPid:\t4194306\nPPid:\t4194310\n"
                     "TracerPid:\t4194320\nNStgid:\t4194305\nNSpid:\t4194306\n";
  CHECK(status(in) == want);
}

TEST_CASE("proc_rewrite: only the first NS column is ours") {
  // A process seen from outside the pid namespace it lives in (captured with
  // unshare --pid --fork): our id first, then its ids inside.
  std::string in = "Tgid:\t6040\nPid:\t6040\nPPid:\t6038\n"
                   "NStgid:\t6040\t1\nNSpid:\t6040\t1\nNSpgid:\t6038\t0\nNSsid:\t3065\t0\n";
  std::string want = "Tgid:\t4194305\nPid:\t4194305\nPPid:\t4194310\n"
                     "NStgid:\t4194305\t1\nNSpid:\t4194305\t1\nNSpgid:\t4194310\t0\nNSsid:\t3065\t0\n";
  CHECK(status(in) == want);
}

TEST_CASE("proc_rewrite: status lines that only look like id lines are kept") {
  // Name: is escaped by the kernel (no raw newline), but may say anything.
  std::string in = "Name:\tPid: 6040\nXPid:\t6040\nPidx:\t6040\nPid\t6040\nPid:\t\n"
                   "Pid:\tabc\nPPid:\t0\nPPid:\t99999999999999\n";
  CHECK(status(in) == in);
  // No trailing newline at the end, ids in odd spacing.
  CHECK(status("Pid:   6040") == "Pid:   4194305");
  CHECK(status("PPid:\t6038\t") == "PPid:\t4194310\t");
  CHECK(status("") == "");
  CHECK(status("\n\n") == "\n\n");
}

TEST_CASE("proc_rewrite: status output that does not fit is ENOSPC") {
  std::string in = "Pid:\t6040\n";
  CHECK(status(in, 12) == "error " + std::to_string(-ENOSPC));
  CHECK(status(in, 13) == "Pid:\t4194305\n");
}

TEST_CASE("proc_rewrite: a real /proc/self/stat gets virtual ids") {
  std::string in =
      "6040 (cat) R 6038 6038 3065 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 96443 3133440 388 "
      "18446744073709551615 94543082160128 94543082180009 140725285137200 0 0 0 0 0 0 0 0 0 17 "
      "1 0 0 0 0 0 94543082196016 94543082197632 94543735672832 140725285140935 "
      "140725285140955 140725285140955 140725285142507 0\n";
  std::string want =
      "4194305 (cat) R 4194310 4194310 3065 0 -1 4194304 101 0 0 0 0 0 0 0 20 0 1 0 96443 "
      "3133440 388 18446744073709551615 94543082160128 94543082180009 140725285137200 0 0 0 0 0 "
      "0 0 0 0 17 1 0 0 0 0 0 94543082196016 94543082197632 94543735672832 140725285140935 "
      "140725285140955 140725285140955 140725285142507 0\n";
  CHECK(stat(in) == want);
}

TEST_CASE("proc_rewrite: stat with a command name full of parentheses and spaces") {
  // Captured from a program named "x) (y z)".
  std::string in = "6040 (x) (y z)) S 6038 6038 3065 0 -1 4194304 127 0 0 0 0 0 0 0 20 0 1 0 "
                   "109569 2990080 406 18446744073709551615 0\n";
  std::string want = "4194305 (x) (y z)) S 4194310 4194310 3065 0 -1 4194304 127 0 0 0 0 0 0 0 "
                     "20 0 1 0 109569 2990080 406 18446744073709551615 0\n";
  CHECK(stat(in) == want);
  // A name that itself looks like stat fields, and one that is just ")".
  CHECK(stat("6040 (1 2 3) 6040) S 6038 6038 6038 0 6038 0\n") ==
        "4194305 (1 2 3) 6040) S 4194310 4194310 4194310 0 4194310 0\n");
  CHECK(stat("6040 ()) S 6038 1 1 0 -1 0\n") == "4194305 ()) S 4194310 1 1 0 -1 0\n");
  CHECK(stat("6040 () S 0 0 0 0 0 0\n") == "4194305 () S 0 0 0 0 0 0\n");
}

TEST_CASE("proc_rewrite: a thread's stat, a terminal's foreground group") {
  std::string in = "6041 (worker) S 6038 6038 6038 34816 6038 4194560 0\n";
  CHECK(stat(in) == "4194306 (worker) S 4194310 4194310 4194310 34816 4194310 4194560 0\n");
  // tty_nr (field 7) and flags (field 9) are not ids even when they match one.
  CHECK(stat("6040 (a) S 1 6038 6038 6040 6038 6040 6038\n") ==
        "4194305 (a) S 1 4194310 4194310 6040 4194310 6040 6038\n");
}

TEST_CASE("proc_rewrite: short or malformed stat text") {
  CHECK(stat("6040 (a) S 6038") == "4194305 (a) S 4194310");
  CHECK(stat("6040 (a)") == "4194305 (a)");
  CHECK(stat("") == "error " + std::to_string(-EINVAL));
  CHECK(stat("6040 cat R 6038") == "error " + std::to_string(-EINVAL));
  CHECK(stat("(cat) R 6038") == "error " + std::to_string(-EINVAL));
  CHECK(stat("6040(cat) R 6038") == "error " + std::to_string(-EINVAL));
  CHECK(stat("x6040 (cat) R 6038") == "error " + std::to_string(-EINVAL));
  CHECK(stat("6040 (cat R 6038") == "error " + std::to_string(-EINVAL));
  CHECK(stat("6040 (a) S 6038 6038", 10) == "error " + std::to_string(-ENOSPC));
}
