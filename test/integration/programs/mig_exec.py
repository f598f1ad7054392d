# A process that execs while it migrates (migrate_exec.sh). It prints what
# getppid() says at each stage, "STAGE: ppid N"; every line must name the
# same parent. Stages, each a new program image except where noted:
#
#   start      waits at point 1 (migrated there), then says it again, and
#              execs python3 (libc's exec: the identity goes in VPROC_SELF)
#   exec       execs RAW_EXEC python3 (raw_exec's own exec is the system
#              call itself: the new image must ask its daemon who it is)
#   raw-exec   waits at point 2, says it again, then RAW_EXEC bash, which
#              prints $PPID and execs python3 again
#   final      waits at point 3, says it again, exits 5
#
# A point N: write our pid to DIR/want-N, wait for DIR/go-N.
#
#   mig_exec.py STAGE DIR RAW_EXEC
import os, sys, time

stage, dirname, raw_exec = sys.argv[1:4]
me = os.path.abspath(__file__)


def say(what):
    print(f"{what}: ppid {os.getppid()}", flush=True)


def point(n):
    with open(os.path.join(dirname, f"want-{n}.tmp"), "w") as f:
        f.write(f"{os.getpid()}\n")
    os.rename(os.path.join(dirname, f"want-{n}.tmp"), os.path.join(dirname, f"want-{n}"))
    go = os.path.join(dirname, f"go-{n}")
    while not os.path.exists(go):
        time.sleep(0.02)


say(stage)
if stage == "start":
    point(1)
    say("start, migrated")
    os.execv(sys.executable, [sys.executable, me, "exec", dirname, raw_exec])
elif stage == "exec":
    os.execv(raw_exec, [raw_exec, sys.executable, me, "raw-exec", dirname, raw_exec])
elif stage == "raw-exec":
    point(2)
    say("raw-exec, migrated back")
    script = 'echo "bash: ppid $PPID"; exec "$0" "$1" final "$2" "$3"'
    os.execv(raw_exec, [raw_exec, "/bin/bash", "-c", script, sys.executable, me, dirname, raw_exec])
elif stage == "final":
    point(3)
    say("final, migrated")
    sys.exit(5)
else:
    sys.exit(f"mig_exec.py: unknown stage {stage}")
