# A bash workload for migration tests: arithmetic in a loop, printing as it
# goes (stdout every round, stderr every tenth), no child processes. Its
# output depends only on COUNT; it exits with status 3.
#
#   bash mig_arith.bash COUNT
n=${1:-200}
x=1
for ((i = 0; i < n; i++)); do
  for ((j = 0; j < 6000; j++)); do
    x=$(((x * 1103515245 + 12345 + j) % 2147483648))
  done
  echo "round $i $x"
  if ((i % 10 == 0)); then echo "checkpoint $i $((x % 9973))" >&2; fi
done
exit 3
