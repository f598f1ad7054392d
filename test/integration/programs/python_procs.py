# os.fork/os.kill/os.waitpid/os.getppid, multiprocessing.Pool and subprocess
# in python3. Prints relations only; with SCENARIO_EXPECT_VIRTUAL=1 every pid
# must be virtual (>= 2^22), else exit 99.
import multiprocessing
import os
import signal
import subprocess
import sys
import time

EXPECT_VIRTUAL = os.environ.get("SCENARIO_EXPECT_VIRTUAL") == "1"


def pid_seen(name, p):
    if EXPECT_VIRTUAL and p < 4194304:
        sys.stderr.write("REAL PID LEAKED: %s = %d\n" % (name, p))
        sys.stderr.flush()
        os._exit(99)
    return p


def check(cond, what):
    if not cond:
        print("FAILED: " + what, flush=True)
        sys.exit(1)
    print("ok: " + what, flush=True)


def square(x):
    return x * x


def worker_identity(_):
    return os.getpid(), os.getppid()


def main():
    me = pid_seen("os.getpid()", os.getpid())
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(r)
        os.write(w, b"%d %d" % (os.getpid(), os.getppid()))
        os._exit(3)
    os.close(w)
    pid_seen("fork result", child)
    got = os.read(r, 100).split()
    os.close(r)
    check(int(got[0]) == child, "the child's os.getpid() equals os.fork()'s result")
    check(pid_seen("child's getppid", int(got[1])) == me, "the child's os.getppid() is our os.getpid()")
    wpid, status = os.waitpid(child, 0)
    check(wpid == child, "os.waitpid returned the child")
    check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 3, "WEXITSTATUS 3")

    child = os.fork()
    if child == 0:
        time.sleep(30)
        os._exit(0)
    pid_seen("fork result", child)
    os.kill(child, 0)
    os.kill(child, signal.SIGTERM)
    wpid, status = os.waitpid(child, 0)
    check(wpid == child and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM,
          "os.kill(child, SIGTERM): WTERMSIG 15")
    try:
        os.kill(child, 0)
        check(False, "os.kill on a reaped child raises ProcessLookupError")
    except ProcessLookupError:
        check(True, "os.kill on a reaped child raises ProcessLookupError")

    children = {}
    for code in (0, 1, 255):
        c = os.fork()
        if c == 0:
            os._exit(code)
        children[pid_seen("fork result", c)] = code
    for _ in range(3):
        wpid, status = os.waitpid(-1, 0)
        if wpid not in children or os.WEXITSTATUS(status) != children.pop(wpid):
            check(False, "os.waitpid(-1) returned one of our children with its status")
    check(not children, "os.waitpid(-1) reaped 3 children with statuses 0, 1, 255")

    with multiprocessing.Pool(2) as pool:
        check(pool.map(square, range(100)) == [x * x for x in range(100)],
              "multiprocessing.Pool(2).map(square, range(100))")
        ids = pool.map(worker_identity, range(8))
    workers = {p for p, _ in ids}
    for p, pp in ids:
        pid_seen("pool worker pid", p)
        pid_seen("pool worker ppid", pp)
    check(all(pp == me for _, pp in ids), "every pool worker's os.getppid() is our pid")
    check(me not in workers, "the pool workers are other processes")

    res = subprocess.run(["sh", "-c", "exit 5"])
    check(res.returncode == 5, "subprocess.run(sh -c 'exit 5').returncode == 5")
    res = subprocess.run(["sh", "-c", "kill -TERM $$"])
    check(res.returncode == -15, "subprocess.run of a self-killing shell: returncode -15")
    res = subprocess.run(["sh", "-c", "echo $PPID; echo $$"], capture_output=True, text=True)
    ppid, shpid = (int(x) for x in res.stdout.split())
    pid_seen("subprocess $PPID", ppid)
    pid_seen("subprocess $$", shpid)
    check(ppid == me, "a subprocess's $PPID is our pid")
    proc = subprocess.Popen(["sleep", "30"])
    pid_seen("Popen.pid", proc.pid)
    proc.send_signal(signal.SIGKILL)
    check(proc.wait() == -9, "Popen.send_signal(SIGKILL) then wait(): -9")
    try:
        subprocess.run(["vproc-no-such-program"])
        check(False, "running a missing program raises FileNotFoundError")
    except FileNotFoundError:
        check(True, "running a missing program raises FileNotFoundError")

    with open("/proc/%d/status" % me) as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    check(int(fields["Pid"]) == me and int(fields["PPid"]) == os.getppid(),
          "/proc/<os.getpid()>/status Pid and PPid match")
    print("EXIT-SUCCESS", flush=True)


if __name__ == "__main__":
    main()
