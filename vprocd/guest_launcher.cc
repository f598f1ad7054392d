#include "guest_launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "strf.h"

namespace vproc::daemon {

GuestLauncher::GuestLauncher(struct ev_loop* loop, std::string vproc, std::string socket, uint64_t migration, std::string image,
                             std::array<int, 3> stdio, uint32_t uid, uint32_t gid, Ended ended)
    : loop_(loop),
      vproc_(std::move(vproc)),
      socket_(std::move(socket)),
      image_(std::move(image)),
      migration_(migration),
      stdio_(stdio),
      uid_(uid),
      gid_(gid),
      ended_(std::move(ended)) {}

GuestLauncher::~GuestLauncher() {
  if (pid_ > 0) ev_child_stop(loop_, &child_);
  if (report_fd_ >= 0) {
    ev_io_stop(loop_, &report_io_);
    close(report_fd_);
  }
}

Status GuestLauncher::start() {
  int rp[2];
  if (pipe2(rp, O_CLOEXEC) != 0) return Status::failure(errno, strf("pipe: %s", strerror(errno)));
  std::string id = strf("%llx", (unsigned long long)migration_);
  // Everything the child needs is built before fork (no allocation after it).
  // The restore, its keeper and the guest talk to this daemon (`vproc_` may
  // carry "--socket PATH"; see Migrations::launch_guest).
  const char* argv[] = {vproc_.c_str(), "--socket", socket_.c_str(), "restore", "--guest", id.c_str(),
                        "--report-fd", "3", image_.c_str(), nullptr};
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    close(rp[0]);
    close(rp[1]);
    return Status::failure(e, strf("fork: %s", strerror(e)));
  }
  if (pid == 0) {
    // The daemon's signal mask and dispositions must not leak into the guest.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    for (int s = 1; s < NSIG; ++s) signal(s, SIG_DFL);
    setsid();  // not in the daemon's session; the guest gets no controlling terminal
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    // Move the report pipe out of the way of 0-2 first, then dup the stdio in.
    int rep = fcntl(rp[1], F_DUPFD_CLOEXEC, 10);
    for (int i = 0; i < 3; ++i) dup2(stdio_[i] >= 0 ? stdio_[i] : null, i);
    dup2(rep, 3);  // dup2 clears FD_CLOEXEC on 3
    if (geteuid() == 0 && (setgroups(0, nullptr) != 0 || setgid(gid_) != 0 || setuid(uid_) != 0)) {
      dprintf(3, "cannot take uid %u gid %u: %s\n", uid_, gid_, strerror(errno));
      _exit(126);
    }
    execv(argv[0], const_cast<char* const*>(argv));
    dprintf(3, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(rp[1]);
  pid_ = pid;
  report_fd_ = rp[0];
  fcntl(report_fd_, F_SETFL, O_NONBLOCK);
  ev_io_init(&report_io_, &GuestLauncher::on_report, report_fd_, EV_READ);
  report_io_.data = this;
  ev_io_start(loop_, &report_io_);
  ev_child_init(&child_, &GuestLauncher::on_child, pid, 0);
  child_.data = this;
  ev_child_start(loop_, &child_);
  return Status::success();
}

void GuestLauncher::read_report() {
  if (report_fd_ < 0) return;
  char buf[1024];
  for (;;) {
    ssize_t n = read(report_fd_, buf, sizeof buf);
    if (n > 0) {
      if (report_.size() < 4096) report_.append(buf, size_t(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    ev_io_stop(loop_, &report_io_);  // EOF or error: the writer is gone
    close(report_fd_);
    report_fd_ = -1;
    return;
  }
}

void GuestLauncher::on_report(struct ev_loop*, ev_io* w, int) { static_cast<GuestLauncher*>(w->data)->read_report(); }

void GuestLauncher::on_child(struct ev_loop* loop, ev_child* w, int) {
  auto* self = static_cast<GuestLauncher*>(w->data);
  ev_child_stop(loop, w);
  int status = w->rstatus;
  self->read_report();
  self->pid_ = -1;
  while (!self->report_.empty() && (self->report_.back() == '\n' || self->report_.back() == ' '))
    self->report_.pop_back();
  Ended ended = std::move(self->ended_);
  if (ended) ended(status, self->report_);  // may destroy *self
}

}  // namespace vproc::daemon
