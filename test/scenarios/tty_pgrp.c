/* Terminal process groups on a pseudo-terminal: a session leader's controlling
 * tty names its group (tcgetpgrp, TIOCGPGRP, tcgetsid, TIOCGSID); tcsetpgrp and
 * TIOCSPGRP move the foreground to another group, which the master side sees
 * too; forkpty() gives a child whose pid and terminal agree. */
#include "scenario.h"

#include <fcntl.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <termios.h>

static int report[2], reply[2];

/* Runs in the child: a new session with the pty as controlling terminal. */
static int session_leader(const char* slave_name) {
  if (setsid() < 0) return 10;
  int tty = open(slave_name, O_RDWR);
  if (tty < 0) return 11;
  if (ioctl(tty, TIOCSCTTY, 0) != 0) return 12;
  pid_t me = getpid();
  pid_t pg = 0, sid = 0;
  if (tcgetpgrp(tty) != me) return 13;
  if (ioctl(tty, TIOCGPGRP, &pg) != 0 || pg != me) return 14;
  if (tcgetsid(tty) != me) return 15;
  if (ioctl(tty, TIOCGSID, &sid) != 0 || sid != me) return 16;

  signal(SIGTTOU, SIG_IGN); /* we set the foreground from the background below */
  int go[2];
  if (pipe(go) != 0) return 17;
  pid_t g = fork();
  if (g < 0) return 18;
  if (g == 0) {
    setpgid(0, 0);
    char c;
    close(go[1]);
    while (read(go[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(go[0]);
  setpgid(g, g);
  if (tcsetpgrp(tty, g) != 0) return 19;
  if (tcgetpgrp(tty) != g) return 20;
  send_pid(report[1], g); /* the parent checks the master side now */
  char c;
  read_all(reply[0], &c, 1);
  pg = me;
  if (ioctl(tty, TIOCSPGRP, &pg) != 0) return 21;
  if (tcgetpgrp(tty) != me) return 22;
  close(go[1]);
  int st;
  if (waitpid(g, &st, 0) != g || !WIFEXITED(st)) return 23;
  return 0;
}

int main(void) {
  SCENARIO_CKPT_POINT();
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  check(master >= 0, "posix_openpt succeeded");
  must(grantpt(master));
  must(unlockpt(master));
  char slave_name[128];
  require(ptsname_r(master, slave_name, sizeof slave_name) == 0, "ptsname_r: %s", strerror(errno));
  must(pipe(report));
  must(pipe(reply));

  pid_t c = fork_checked();
  if (c == 0) _exit(session_leader(slave_name));
  pid_t g = recv_pid(report[0]);
  pid_t pg = 0;
  check(ioctl(master, TIOCGPGRP, &pg) == 0 && pid_seen(pg) == g,
        "TIOCGPGRP on the master: the foreground group the child chose");
  check(tcgetpgrp(master) == g, "tcgetpgrp(master) agrees");
  write_all(reply[1], "c", 1);
  expect_exit(c, 0, "session leader: tcgetpgrp/TIOCGPGRP/tcgetsid/TIOCGSID/tcsetpgrp/TIOCSPGRP all agreed");
  close(master);

  /* forkpty: the child runs on a new terminal as a session leader. */
  int fd;
  fflush(stdout);
  pid_t k = forkpty(&fd, NULL, NULL, NULL);
  if (k == 0) {
    pid_t me = getpid();
    pid_t fg = tcgetpgrp(0);
    send_pid(report[1], me);
    _exit(fg == me && getsid(0) == me ? 0 : 10);
  }
  require(k > 0, "forkpty: %s", strerror(errno));
  pid_seen(k);
  check(recv_pid(report[0]) == k, "forkpty: the child's getpid() equals forkpty()'s result");
  expect_exit(k, 0, "forkpty child: its terminal's foreground group and its session are itself");
  close(fd);
  close(report[0]);
  close(report[1]);
  close(reply[0]);
  close(reply[1]);
  SCENARIO_CKPT_POINT();
  return scenario_done();
}
