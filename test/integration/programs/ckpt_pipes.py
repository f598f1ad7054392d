# For ckpt_pipes.sh: python3's own pipes, epoll and eventfd across a
# checkpoint, the way a thread pool uses them: workers block in os.read() on
# a job pipe and answer on a result pipe; the main thread waits with
# select.epoll on the results and an eventfd. Before the checkpoint, 20 jobs
# are done and their results wait unread in the pipe, the eventfd counts 3 and
# the workers block reading the empty job pipe; the test checkpoints, kills
# and restores the process while it waits for the file GO. Then 20 more jobs.
#
#   ckpt_pipes.py GO
import fcntl
import os
import select
import sys
import termios
import threading
import time

jobs_r, jobs_w = os.pipe()
results_r, results_w = os.pipe()
wake = os.eventfd(0, os.EFD_NONBLOCK)
ep = select.epoll()
ep.register(results_r, select.EPOLLIN)
ep.register(wake, select.EPOLLIN)


def worker():
    while True:
        n = int.from_bytes(os.read(jobs_r, 2), "little")
        if n == 0:
            return
        os.write(results_w, (n * n).to_bytes(4, "little"))


def queue(first, last):
    os.write(jobs_w, b"".join(i.to_bytes(2, "little") for i in range(first, last + 1)))


def buffered(fd):
    return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, bytes(4)), "little")


threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads:
    t.start()
queue(1, 20)
while buffered(results_r) < 80:
    time.sleep(0.01)
os.eventfd_write(wake, 3)
print("20 results waiting", flush=True)
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)

events = dict(ep.poll(0))
print("ready:", results_r in events, wake in events, "counter:", os.eventfd_read(wake), flush=True)
queue(21, 40)
total, got = 0, 0
while got < 40:
    for fd, _ in ep.poll(5):
        if fd == results_r:
            data = os.read(results_r, 4 * (40 - got))
            got += len(data) // 4
            total += sum(int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4))
os.write(jobs_w, bytes(8))  # a stop mark for each worker
for t in threads:
    t.join()
print("results:", got, "sum of squares:", total, flush=True)
print("EXIT-SUCCESS", flush=True)
