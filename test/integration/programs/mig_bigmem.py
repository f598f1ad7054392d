# A migration workload with a large image: it fills MIB MiB with a fixed
# non-zero pattern (every page is stored in a checkpoint), then prints a
# numbered line every 0.1 s with a checksum of a changing slice of it, and at
# the end the checksum of all of it; exits with status 7. A migrated run must
# print exactly what an uninterrupted one prints.
#
#   mig_bigmem.py MIB COUNT
import sys, time, zlib

mib, count = int(sys.argv[1]), int(sys.argv[2])
block = (bytes(range(1, 256)) * 4200)[: 1 << 20]
data = bytearray(block) * mib
for i in range(count):
    at = (i * 7919 % mib) << 20
    data[at] = (data[at] + i) & 0xFF or 1
    print("tick", i, zlib.crc32(memoryview(data)[at : at + (1 << 20)]), flush=True)
    time.sleep(0.1)
print("all", zlib.crc32(data), flush=True)
sys.exit(7)
