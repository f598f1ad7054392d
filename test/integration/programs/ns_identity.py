# For the checkpoint test across pid namespaces: prints its identity, waits
# until the file GO exists, prints its identity again and exits.
#
#   ns_identity.py GO
#
# A line: TAG GETPID KERNEL_PID STAT_PID, where GETPID is os.getpid() (the vpid
# under vproc), KERNEL_PID is libc's own getpid() called through the libc
# handle, which libvproc does not interpose (the kernel's pid in the caller's
# pid namespace), and STAT_PID is the first field of /proc/self/stat as the
# program reads it (rewritten to the vpid by libvproc).
import ctypes
import os
import sys
import time

libc = ctypes.CDLL("libc.so.6")


def identity(tag):
    with open("/proc/self/stat") as f:
        stat_pid = f.read().split()[0]
    print(tag, os.getpid(), libc.getpid(), stat_pid, flush=True)


identity("before")
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
identity("after")
