# A python3 thread pool for the multi-threaded checkpoint tests: a feeder
# thread puts ITEMS numbers into a bounded queue.Queue, WORKERS threads take
# them, hash each (a sha256 chain, a short sleep so a run lasts a few seconds)
# and add to shared totals under a lock; the main thread writes "ITEM DIGEST"
# for every item, in order, to PROGRESS_FILE (flushed, so a test can watch
# it) and at the end prints a checksum of all of them. So at any moment
# threads wait in Queue.get/put (condition variables), in time.sleep, on the
# lock, or hash. The output depends only on the arguments.
#
# With --hold FILE, while FILE holds a number N, the main thread waits before
# item N until the number grows (no file: no waiting), so that a test can
# checkpoint it at an item of its choosing however slowly the test runs.
#
#   ckpt_threads.py [--hold FILE] PROGRESS_FILE ITEMS [WORKERS]
import hashlib
import queue
import sys
import threading
import time

args = sys.argv[1:]
hold_path = None
if args[:1] == ["--hold"]:
    hold_path, args = args[1], args[2:]
progress_path, items = args[0], int(args[1])
workers = int(args[2]) if len(args) > 2 else 8


def hold_limit():
    try:
        with open(hold_path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return -1


def wait_for_hold(i):
    if hold_path is None:
        return
    while 0 <= hold_limit() <= i:
        time.sleep(0.001)

tasks = queue.Queue(maxsize=2 * workers)
results = queue.Queue()
totals_lock = threading.Lock()
totals = {"bytes": 0, "odd": 0}


def feed():
    for i in range(items):
        tasks.put(i)
    for _ in range(workers):
        tasks.put(None)


def work():
    while True:
        i = tasks.get()
        if i is None:
            return
        h = hashlib.sha256(b"item %d" % i)
        for k in range(150):
            h.update(h.digest() + b"%d" % k)
        digest = h.hexdigest()
        with totals_lock:
            totals["bytes"] += len(digest) + i
            totals["odd"] += int(digest[-1], 16) & 1
        time.sleep(0.002 + 0.002 * (i % 4))
        results.put((i, digest))


threads = [threading.Thread(target=feed, name="feeder")]
threads += [threading.Thread(target=work, name="worker%d" % n) for n in range(workers)]
for t in threads:
    t.start()

done = {}
checksum = hashlib.sha256(b"vproc threads")
with open(progress_path, "w") as progress:
    for i in range(items):
        while i not in done:
            j, digest = results.get()
            done[j] = digest
        wait_for_hold(i)
        digest = done.pop(i)
        checksum.update(digest.encode())
        progress.write("%d %s\n" % (i, digest[:16]))
        progress.flush()
for t in threads:
    t.join()
print("items", items, "workers", workers)
print("checksum", checksum.hexdigest())
print("totals", totals["bytes"], totals["odd"])
print("threads left", threading.active_count())
