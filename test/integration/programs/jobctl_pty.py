# Job control at a terminal (migrate_jobctl.sh): an interactive bash in a
# pseudo-terminal runs `$RUN python3 TICKER N` as a foreground job; the driver
# (this program) optionally migrates the ticker to HOST once it ticks, then
# types ^Z (bash must report the job Stopped, the job must be stopped and
# print nothing), then `fg` (the ticks go on to the end), then `echo rc=$?`.
#
#   jobctl_pty.py RUN TICKER N [HOST]
#
# RUN is what $RUN holds in that bash ("" natively, "vproc-run" under vproc),
# so bash shows the same job text either way. With HOST, `vproc ps` and `vproc
# migrate` must work here (the driver runs on the ticker's node). Prints a
# summary that must be the same natively and migrated: every tick line, bash's
# job lines, what it saw while the job was stopped, and the exit status.
import os, pty, re, select, subprocess, sys, time

run, ticker, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
host = sys.argv[4] if len(sys.argv) > 4 else None
TIMEOUT = 20

pid, fd = pty.fork()
if pid == 0:
    os.closerange(3, 65536)  # a migration refuses what it does not know (pipes)
    env = dict(os.environ, PS1="$ ", TERM="dumb", HISTFILE="/dev/null", RUN=run)
    os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], env)

out = b""


def pump(seconds):
    global out
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return
        r, _, _ = select.select([fd], [], [], left)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            out += data


def text():
    return out.decode(errors="replace").replace("\r", "").replace("^Z", "")


def wait_for(pattern, what):
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end:
        m = re.search(pattern, text(), re.M)
        if m:
            return m
        pump(0.05)
    sys.stderr.write("jobctl_pty: timed out waiting for %s; the terminal said:\n%s\n" % (what, text()[-2000:]))
    os.kill(pid, 9)
    sys.exit(1)


def ticks():
    return re.findall(r"^tick \d+ \w+$", text(), re.M)


def job_state():
    # bash's child: the ticker natively, its shadow under vproc.
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        kids = f.read().split()
    if len(kids) != 1:
        return "bash has %d children" % len(kids)
    with open("/proc/%s/stat" % kids[0]) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def vpid_state(vpid):
    ps = subprocess.run(["vproc", "ps"], capture_output=True, text=True).stdout
    for line in ps.splitlines():
        f = line.split()
        if f and f[0] == vpid:
            return f[1], f[4]
    return None, None


summary = []
wait_for(r"^\$ ", "the first prompt")
os.write(fd, b"$RUN /usr/bin/python3 %s %d\n" % (ticker.encode(), n))
wait_for(r"^tick 3 ", "tick 3")
vpid = None
if host:
    ps = subprocess.run(["vproc", "ps"], capture_output=True, text=True).stdout
    vpid = next(l.split()[0] for l in ps.splitlines() if "mig_ticker" in l and "vproc-run" not in l)
    r = subprocess.run(["vproc", "migrate", vpid, host], capture_output=True, text=True)
    sys.stderr.write("jobctl_pty: %s" % (r.stdout + r.stderr))
    if r.returncode != 0:
        os.kill(pid, 9)
        sys.exit(1)
    seen = len(ticks())
    wait_for(r"^tick %d " % (seen + 2), "ticks from %s" % host)

os.write(fd, b"\x1a")  # ^Z
m = wait_for(r"^\[1\]\+ +Stopped.*$", "bash's Stopped")
summary.append(m.group(0))
wait_for(r"Stopped.*\n(.|\n)*^\$ ", "the prompt after ^Z")
summary.append("job state: %s" % job_state())
if host:
    node, state = vpid_state(vpid)
    summary.append("guest state: %s" % state)
    sys.stderr.write("jobctl_pty: vpid %s is %s on %s\n" % (vpid, state, node))
else:
    summary.append("guest state: stopped")  # what the migrated run must say
stopped_at = len(ticks())
pump(0.5)
summary.append("ticks while stopped: %d" % (len(ticks()) - stopped_at))

os.write(fd, b"fg\n")
wait_for(r"^tick %d .*\n(.|\n)*^\$ " % (n - 1), "the last tick and the prompt")
os.write(fd, b"echo rc=$?\n")
summary.append(wait_for(r"^rc=\d+$", "the exit status").group(0))
os.write(fd, b"exit\n")
pump(1)
os.waitpid(pid, 0)
print("\n".join(ticks()))
print("\n".join(summary))
