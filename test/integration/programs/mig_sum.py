# A stdin reader for migration tests: sums the numbers it reads, one per line,
# printing the count and running total every 1000 lines and pausing a little
# there (so a migration finds it mid-read), then the final count and total;
# exits with status 5. Lost or repeated input shows in the totals.
import sys, time

total = n = 0
for line in sys.stdin:
    total += int(line)
    n += 1
    if n % 1000 == 0:
        print(n, total, flush=True)
        time.sleep(0.02)
print("end", n, total)
sys.exit(5)
