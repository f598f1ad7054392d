# A deterministic workload for migration tests: it prints a numbered line every
# 0.1 s with a running checksum of memory it keeps changing, then exits with
# status 7. A migrated run must print exactly what an uninterrupted one prints.
import hashlib, sys, time
n = int(sys.argv[1]) if len(sys.argv) > 1 else 50
buf = bytearray(8 << 20)
h = hashlib.sha256()
for i in range(n):
    for j in range(0, len(buf), 4096):
        buf[j] = (buf[j] + i + (j >> 12)) & 0xff
    h.update(buf[:: 4096])
    print("tick", i, h.hexdigest()[:16], flush=True)
    time.sleep(0.1)
sys.exit(7)
