# fork/waitpid/kill/getppid, piped open, backticks and system() in perl. Prints relations only; with
# SCENARIO_EXPECT_VIRTUAL=1 every pid must be virtual (>= 2^22), else exit 99.
use strict;
use warnings;
use POSIX qw(:sys_wait_h);
$| = 1;

my $ev = ($ENV{SCENARIO_EXPECT_VIRTUAL} // '') eq '1';
sub pid_seen {
  my ($name, $p) = @_;
  if ($ev && $p < 4194304) { print STDERR "REAL PID LEAKED: $name = $p\n"; POSIX::_exit(99); }
  return $p;
}
sub check {
  my ($cond, $what) = @_;
  if (!$cond) { print "FAILED: $what\n"; exit 1; }
  print "ok: $what\n";
}

my $me = pid_seen('$$', $$);
pipe(my $r, my $w) or die "pipe: $!";
my $c = fork() // die "fork: $!";
if ($c == 0) {
  close $r;
  print $w getppid(), " $$\n";
  close $w;
  POSIX::_exit(3);
}
close $w;
pid_seen('fork result', $c);
my ($ppid, $self) = split ' ', scalar <$r>;
close $r;
check(pid_seen('child getppid', $ppid) == $me, "the child's getppid is our \$\$");
check($self == $c, "the child's \$\$ equals fork's result");
check(waitpid($c, 0) == $c, 'waitpid returned the child');
check(WIFEXITED($?) && WEXITSTATUS($?) == 3, 'WEXITSTATUS 3');

$c = fork() // die "fork: $!";
if ($c == 0) { sleep 30; POSIX::_exit(0); }
check(kill(0, $c) == 1, 'kill 0 on the running child');
check(kill('TERM', $c) == 1, 'kill TERM on the child');
check(waitpid($c, 0) == $c && WIFSIGNALED($?) && WTERMSIG($?) == 15, 'WTERMSIG 15');
check(kill(0, $c) == 0 && $!{ESRCH}, 'kill 0 after the reap: ESRCH');

my %codes;
for my $code (0, 2, 255) {
  my $k = fork() // die "fork: $!";
  if ($k == 0) { POSIX::_exit($code); }
  $codes{pid_seen('fork result', $k)} = $code;
}
my $n = 0;
while ((my $k = waitpid(-1, 0)) > 0) {
  exists $codes{$k} && WEXITSTATUS($?) == $codes{$k} or check(0, 'waitpid(-1) returned our child with its status');
  $n++;
}
check($n == 3, 'waitpid(-1) reaped 3 children with statuses 0, 2, 255');

$c = fork() // die "fork: $!";
if ($c == 0) { sleep 30; POSIX::_exit(0); }
check(waitpid($c, WNOHANG) == 0, 'waitpid(WNOHANG) on a running child: 0');
kill 'KILL', $c;
check(waitpid($c, 0) == $c && WTERMSIG($?) == 9, 'kill KILL: WTERMSIG 9');

open(my $fh, '-|', 'sh', '-c', 'echo $PPID') or die "open -|: $!";
my $out = <$fh>;
close $fh;
check(pid_seen('piped shell $PPID', $out + 0) == $me, "a piped-open shell's \$PPID is our \$\$");
check($? == 0, 'close of the piped open: status 0');
$out = `echo x; exit 4`;
check(($? >> 8) == 4, 'backticks: exit status 4');
system('sh', '-c', 'exit 6');
check(($? >> 8) == 6, 'system() exit status 6');
print "EXIT-SUCCESS\n";
