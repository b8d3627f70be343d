#!/usr/bin/env bash
# The one-node Slurm cluster of scripts/slurm-cluster (docs/slurm.md): up, a
# 4-task job array whose tasks each write their index to a file, down.
# Exit 77 (skipped) when not root or when the Slurm/munge binaries are absent.
set -euo pipefail

name=smoke
source "$(dirname "$0")/cluster.sh"

t0=$(now)
cluster_up
t1=$(now)

out=$state/out
mkdir "$out"
tasks=4
# In the background so that TERM/INT run the clean-up at once, not after sbatch.
# Time budget under ctest's 120 s: up 20 s + job 60 s + down 10 s.
timeout 60 sbatch --wait --array=0-$((tasks - 1)) -o "$out/%A_%a.log" \
  --wrap "echo task \$SLURM_ARRAY_TASK_ID of \$SLURM_ARRAY_JOB_ID > $out/task\$SLURM_ARRAY_TASK_ID" &
background_pid=$!
wait "$background_pid" || { echo "smoke: FAIL: sbatch --wait failed or took over 60 s"; cluster_logs; exit 1; }
t2=$(now)

fail=0
for ((i = 0; i < tasks; i++)); do
  f=$out/task$i
  if [ ! -f "$f" ]; then
    echo "smoke: FAIL: $f missing"; fail=1
  elif ! grep -qx "task $i of [0-9][0-9]*" "$f"; then
    echo "smoke: FAIL: $f holds '$(cat "$f")', want 'task $i of <job id>'"; fail=1
  fi
done
n=$(find "$out" -name 'task*' | wc -l)
[ "$n" -eq "$tasks" ] || { echo "smoke: FAIL: $n task files, want $tasks"; fail=1; }

"$cluster" down "$state"
t3=$(now)
if [ "$fail" -ne 0 ]; then
  for f in "$out"/*.log; do echo "----- $f"; cat "$f"; done
  cluster_logs
  exit 1
fi
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" \
  'BEGIN { printf "smoke: ok: up %.1f s, %d-task array %.1f s, down %.1f s\n", b - a, '"$tasks"', c - b, d - c }'
