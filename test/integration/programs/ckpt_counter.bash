# A bash loop for the checkpoint tests: builtins only (no child processes),
# arithmetic on two counters, one line appended to OUT per step, a final line
# on stdout. The output depends only on the arguments.
#
#   bash ckpt_counter.bash OUT STEPS
out=$1
n=$2
i=0
sum=0
declare -A seen=()
while [ "$i" -lt "$n" ]; do
  i=$((i + 1))
  sum=$(((sum * 31 + i * i) % 1000000007))
  seen[$((sum % 101))]=$i
  echo "$i $sum" >>"$out"
done
echo "final $i $sum ${#seen[@]}"
