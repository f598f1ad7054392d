#include "shadow_children.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace vproc::shadow {
namespace {

bool contains(const std::vector<uint32_t>& v, uint32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }
void erase(std::vector<uint32_t>& v, uint32_t x) { v.erase(std::remove(v.begin(), v.end(), x), v.end()); }

// A wait status as wait(2) would have given it, from waitid's siginfo.
int32_t wait_status_of(const siginfo_t& si) {
  switch (si.si_code) {
    case CLD_EXITED: return (si.si_status & 0xff) << 8;
    case CLD_DUMPED: return (si.si_status & 0x7f) | 0x80;
    default: return si.si_status & 0x7f;  // CLD_KILLED
  }
}

}  // namespace

ShadowChildren::ShadowChildren(uint32_t parent_vpid, std::string socket_path)
    : parent_(parent_vpid), socket_path_(std::move(socket_path)) {}

void ShadowChildren::scan() {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/children", int(getpid()));
  FILE* f = fopen(path, "re");
  if (!f) return;
  unsigned long pid;
  while (fscanf(f, "%lu", &pid) == 1) children_.push_back(uint32_t(pid));
  fclose(f);
  // Zombies already (their SIGCHLD went to the program), and changes that
  // came before the exec.
  on_sigchld();
}

void ShadowChildren::set_ready(bool ready) {
  ready_ = ready;
  if (ready) send_all();
}

void ShadowChildren::on_sigchld() {
  std::vector<uint32_t> now = children_;
  for (uint32_t c : now)
    if (!contains(exit_reported_, c)) collect(c);
  send_all();
}

void ShadowChildren::collect(uint32_t child) {
  for (int guard = 0; guard < 64; ++guard) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, child, &si, WEXITED | WSTOPPED | WCONTINUED | WNOHANG | WNOWAIT) != 0) {
      erase(children_, child);  // not ours (any more)
      return;
    }
    if (si.si_pid == 0) return;  // nothing new
    if (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED) {
      exit_reported_.push_back(child);
      unsent_.push_back(Report{child, 1, wait_status_of(si)});
      return;
    }
    // A stop or a continue: consumed now (WEXITED left out, so an exit that
    // came meanwhile stays for the next round).
    bool stop = si.si_code != CLD_CONTINUED;
    siginfo_t taken;
    memset(&taken, 0, sizeof taken);
    waitid(P_PID, child, &taken, (stop ? WSTOPPED : WCONTINUED) | WNOHANG);
    unsent_.push_back(Report{child, uint8_t(stop ? 2 : 3), stop ? (si.si_status & 0x7f) : 0});
  }
}

void ShadowChildren::send_all() {
  if (!ready_ || unsent_.empty()) return;
  if (!link_.is_open() && link_.open(socket_path_.c_str()) != 0) return;
  while (!unsent_.empty()) {
    const Report& r = unsent_.front();
    wire::ChildReport m{parent_, r.child, wire::GuestChange(r.kind), r.status};
    if (!link_.send(m)) return lost();
    unanswered_.push_back(r);
    unsent_.pop_front();
  }
}

void ShadowChildren::lost() {
  link_.close();
  // Sent again after the next Hello (set_ready), in order.
  unsent_.insert(unsent_.begin(), unanswered_.begin(), unanswered_.end());
  unanswered_.clear();
  ready_ = false;
}

void ShadowChildren::prepare(std::vector<pollfd>& set) {
  slot_ = -1;
  if (!link_.is_open()) return;
  slot_ = int(set.size());
  set.push_back(pollfd{link_.fd(), short(POLLIN | (link_.wants_write() ? POLLOUT : 0)), 0});
}

void ShadowChildren::service(const std::vector<pollfd>& set) {
  if (slot_ < 0 || size_t(slot_) >= set.size() || !set[size_t(slot_)].revents || !link_.is_open()) return;
  if (link_.wants_write() && !link_.flush()) return lost();
  for (;;) {
    wire::Reply reply;
    std::vector<int> fds;
    DaemonLink::Got got = link_.receive(reply, fds);
    for (int fd : fds) close(fd);
    if (got == DaemonLink::Got::Nothing) return;
    if (got == DaemonLink::Got::Closed) return lost();
    if (unanswered_.empty()) continue;
    Report r = unanswered_.front();
    unanswered_.pop_front();
    // Answered (or refused: then nobody can learn it): an exit's zombie goes.
    if (r.kind == 1) {
      siginfo_t si;
      waitid(P_PID, r.child, &si, WEXITED | WNOHANG);
      erase(exit_reported_, r.child);
      erase(children_, r.child);
    }
  }
}

}  // namespace vproc::shadow
