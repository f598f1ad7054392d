# A python3 loop for the checkpoint tests: STEPS steps of hashing, each
# appending "STEP DIGEST" to PROGRESS_FILE (flushed, so a test can watch it),
# with a short sleep so a run lasts a few seconds; at the end it prints a
# checksum of all its work. The output depends only on the arguments.
#
#   ckpt_progress.py PROGRESS_FILE STEPS [hold-socket]
#
# hold-socket: keep a socketpair open all along (a checkpoint must refuse it).
import hashlib
import socket
import sys
import time

progress_path, steps = sys.argv[1], int(sys.argv[2])
held = socket.socketpair() if sys.argv[3:] == ["hold-socket"] else None
h = hashlib.sha256(b"vproc")
buckets = {}
with open(progress_path, "w") as progress:
    for i in range(steps):
        for k in range(100):
            h.update(b"%d:%d;" % (i, k))
        buckets.setdefault(i % 97, []).append(i * i)
        progress.write("%d %s\n" % (i, h.hexdigest()[:16]))
        progress.flush()
        time.sleep(0.002)
print("steps", steps)
print("checksum", h.hexdigest())
print("buckets", len(buckets), sum(sum(v) for v in buckets.values()))
if held:
    held[0].send(b"x")
    print("socket still works:", held[1].recv(1) == b"x")
