/* ticker: a long-running counter, one line per interval on stdout.
 *
 * Its state is the count in memory, so it is the demo program for checkpoint
 * and migration: after a restore the count must continue where it was.
 *
 *   SIGUSR1         prints the current count (and who asked)
 *   SIGTERM/SIGINT  prints who sent it, then dies of that signal (so a shell
 *                   or waitpid sees "terminated by SIGTERM", as for any program)
 * The sender is the si_pid of an SA_SIGINFO handler: under vproc it is the
 * sender's virtual PID (or the real PID of a sender outside vproc).
 *
 * Usage: ticker [-n COUNT] [-i MILLISECONDS]
 *   -n COUNT   stop after COUNT ticks (default: run until signalled)
 *   -i MS      interval in milliseconds, 1..3600000 (default 1000)
 */
#define _GNU_SOURCE /* sigabbrev_np */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t stop_sender;
static volatile sig_atomic_t report_sender;
static volatile sig_atomic_t report_wanted;

static void on_stop(int sig, siginfo_t *si, void *ctx) {
  (void)ctx;
  stop_sender = si->si_pid;
  stop_signal = sig;
}

static void on_report(int sig, siginfo_t *si, void *ctx) {
  (void)sig;
  (void)ctx;
  report_sender = si->si_pid;
  report_wanted = 1;
}

static long parse_number(const char *prog, const char *opt, const char *text, long lo, long hi) {
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || errno || v < lo || v > hi) {
    fprintf(stderr, "%s: %s needs a number from %ld to %ld, not '%s'\n", prog, opt, lo, hi, text);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  long count = -1, interval_ms = 1000;
  int opt;
  while ((opt = getopt(argc, argv, "n:i:h")) != -1) {
    switch (opt) {
      case 'n': count = parse_number(argv[0], "-n", optarg, 0, 1000000000L); break;
      case 'i': interval_ms = parse_number(argv[0], "-i", optarg, 1, 3600000L); break;
      case 'h':
        printf("usage: %s [-n COUNT] [-i MILLISECONDS]\n", argv[0]);
        return 0;
      default:
        fprintf(stderr, "usage: %s [-n COUNT] [-i MILLISECONDS]\n", argv[0]);
        return 2;
    }
  }
  if (optind != argc) {
    fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_flags = SA_SIGINFO;
  sa.sa_sigaction = on_stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_sigaction = on_report;
  sigaction(SIGUSR1, &sa, NULL);

  printf("ticker: pid %d, parent %d, a tick every %ld ms\n", (int)getpid(), (int)getppid(), interval_ms);
  long ticks = 0;
  struct timespec next;
  clock_gettime(CLOCK_MONOTONIC, &next);
  while (count < 0 || ticks < count) {
    next.tv_nsec += (interval_ms % 1000) * 1000000L;
    next.tv_sec += interval_ms / 1000 + next.tv_nsec / 1000000000L;
    next.tv_nsec %= 1000000000L;
    /* Absolute deadlines: a signal (or a checkpoint) does not shift the beat. */
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR) {
      if (stop_signal) break;
      if (report_wanted) {
        report_wanted = 0;
        printf("ticker: %ld ticks so far (asked by pid %d)\n", ticks, (int)report_sender);
      }
    }
    if (stop_signal) {
      printf("ticker: got SIG%s from pid %d after %ld ticks\n", sigabbrev_np(stop_signal), (int)stop_sender, ticks);
      fflush(stdout);
      signal(stop_signal, SIG_DFL);
      raise(stop_signal);
      return 128 + stop_signal; /* not reached */
    }
    ++ticks;
    printf("tick %ld\n", ticks);
  }
  printf("ticker: done after %ld ticks\n", ticks);
  return 0;
}
