# A deterministic workload for long migration tests whose length the test
# decides: it prints a numbered line every 0.05 s with a running checksum of
# memory it keeps changing, until SIGUSR1 arrives (it finishes the line it is
# on) or it has printed COUNT lines; then it exits with status 7. A migrated
# run stopped after N lines must print exactly what `mig_until.py N` prints.
#
#   mig_until.py [COUNT]     COUNT: at most this many lines (default: no limit)
import hashlib, signal, sys, time

count = int(sys.argv[1]) if len(sys.argv) > 1 else -1
stop = False


def on_usr1(signo, frame):
    global stop
    stop = True


signal.signal(signal.SIGUSR1, on_usr1)
buf = bytearray(4 << 20)
h = hashlib.sha256()
i = 0
while i != count and not stop:
    for j in range(0, len(buf), 4096):
        buf[j] = (buf[j] + i + (j >> 12)) & 0xff
    h.update(buf[::4096])
    print("tick", i, h.hexdigest()[:16], flush=True)
    i += 1
    time.sleep(0.05)
sys.exit(7)
