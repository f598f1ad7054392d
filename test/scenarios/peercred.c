/* The pid the kernel attaches to Unix sockets: SO_PEERCRED on a socketpair
 * (the creator's pid on both ends, also a pair a child made and passed back
 * with SCM_RIGHTS), on a connected socket (each side sees the other), and
 * SCM_CREDENTIALS received with SO_PASSCRED (the sender's pid). */
#include "scenario.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

static pid_t peer_pid(int fd) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) fail("SO_PEERCRED: %s", strerror(errno));
  return pid_seen(cred.pid);
}

static void send_fd(int sock, int fd) {
  char byte = 'f';
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(sock, &msg, 0) != 1) fail("sendmsg(SCM_RIGHTS): %s", strerror(errno));
}

static int recv_fd(int sock) {
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  if (recvmsg(sock, &msg, 0) != 1) fail("recvmsg(SCM_RIGHTS): %s", strerror(errno));
  struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) fail("no SCM_RIGHTS received");
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}

static void test_socketpair(void) {
  int sv[2];
  must(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  pid_t me = getpid();
  check(peer_pid(sv[0]) == me && peer_pid(sv[1]) == me, "socketpair: SO_PEERCRED on both ends is the creator (us)");
  pid_t c = fork_checked();
  if (c == 0) {
    close(sv[0]);
    if (peer_pid(sv[1]) != me) _exit(10);
    /* A pair made by the child, one end handed to the parent. */
    int mine[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, mine) != 0) _exit(11);
    send_pid(sv[1], getpid());
    send_fd(sv[1], mine[1]);
    char ch;
    while (read(mine[0], &ch, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(sv[1]);
  pid_t child_self = recv_pid(sv[0]);
  check(child_self == c, "the child's getpid() equals the fork() result");
  int theirs = recv_fd(sv[0]);
  check(peer_pid(theirs) == c, "socketpair made by the child: SO_PEERCRED pid is the child's getpid()");
  write_all(theirs, "x", 1);
  expect_exit(c, 0, "child (saw the parent's pid on the parent's pair)");
  close(theirs);
  close(sv[0]);
}

static void test_connected(void) {
  int listener = socket(AF_UNIX, SOCK_STREAM, 0);
  check(listener >= 0, "listening socket created");
  /* Autobind: the kernel picks a unique abstract name (pids are not unique
   * across the test daemons running side by side). */
  struct sockaddr_un addr = {0};
  addr.sun_family = AF_UNIX;
  must(bind(listener, (struct sockaddr*)&addr, sizeof(sa_family_t)));
  socklen_t alen = sizeof addr;
  must(getsockname(listener, (struct sockaddr*)&addr, &alen));
  must(listen(listener, 4));
  pid_t me = getpid();
  pid_t c = fork_checked();
  if (c == 0) {
    close(listener);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr*)&addr, alen) != 0) _exit(10);
    if (peer_pid(s) != me) _exit(11); /* the listener's creator */
    char ch;
    while (read(s, &ch, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  int conn = accept(listener, NULL, NULL);
  check(conn >= 0, "accepted the child's connection");
  check(peer_pid(conn) == c, "connected socket: SO_PEERCRED pid is the child's pid");
  write_all(conn, "k", 1);
  expect_exit(c, 0, "child (its SO_PEERCRED named us, the listener)");
  close(conn);
  close(listener);
}

static void test_scm_credentials(void) {
  int sv[2];
  must(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
  int on = 1;
  must(setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on));
  pid_t c = fork_checked();
  if (c == 0) {
    close(sv[0]);
    _exit(send(sv[1], "c", 1, 0) == 1 ? 0 : 10);
  }
  close(sv[1]);
  char byte;
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(struct ucred))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = u.buf;
  msg.msg_controllen = sizeof u.buf;
  ssize_t n;
  do {
    n = recvmsg(sv[0], &msg, 0);
  } while (n < 0 && errno == EINTR);
  check(n == 1, "received the child's datagram");
  struct cmsghdr* cm = CMSG_FIRSTHDR(&msg);
  check(cm && cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS, "it carries SCM_CREDENTIALS");
  struct ucred cred;
  memcpy(&cred, CMSG_DATA(cm), sizeof cred);
  check(pid_seen(cred.pid) == c, "SCM_CREDENTIALS pid is the sending child's pid");
  check(cred.uid == getuid(), "SCM_CREDENTIALS uid is ours");
  expect_exit(c, 0, "credential-sending child");
  close(sv[0]);
}

int main(void) {
  SCENARIO_CKPT_POINT();
  test_socketpair();
  SCENARIO_CKPT_POINT();
  test_connected();
  test_scm_credentials();
  SCENARIO_CKPT_POINT();
  return scenario_done();
}
