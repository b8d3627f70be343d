#!/usr/bin/env bash
# The one-node Slurm cluster of scripts/slurm-cluster (docs/slurm.md): up, a
# 4-task job array whose tasks each write their index to a file, down.
# Exit 77 (skipped) when not root or when the Slurm/munge binaries are absent.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cluster=$here/../../scripts/slurm-cluster

[ "$(id -u)" -eq 0 ] || { echo "smoke: skipped, needs root"; exit 77; }
for b in munged slurmctld slurmd sbatch sinfo; do
  command -v "$b" > /dev/null || { echo "smoke: skipped, $b not installed (scripts/setup)"; exit 77; }
done

state=$(mktemp -d /tmp/xbarc-slurm-smoke.XXXXXX)
sbatch_pid=
cleanup() {
  [ -z "$sbatch_pid" ] || kill "$sbatch_pid" 2> /dev/null || true
  "$cluster" down "$state" > /dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Free ports at random unless given, so that two ctest runs on one machine (or
# a cluster a developer left up) do not meet on slurm's defaults.
port_free() { ! (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
if [ -z "${XBARC_SLURMCTLD_PORT:-}" ]; then
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    p=$((20000 + 2 * (RANDOM % 5000)))
    if port_free "$p" && port_free $((p + 1)); then
      export XBARC_SLURMCTLD_PORT=$p XBARC_SLURMD_PORT=$((p + 1))
      break
    fi
  done
fi

now() { date +%s.%N; }
t0=$(now)
XBARC_SLURM_UP_TIMEOUT=20 "$cluster" up "$state"
export SLURM_CONF=$state/slurm.conf
t1=$(now)

out=$state/out
mkdir "$out"
tasks=4
# In the background so that TERM/INT run the clean-up at once, not after sbatch.
# Time budget under ctest's 120 s: up 20 s + job 60 s + down 10 s.
timeout 60 sbatch --wait --array=0-$((tasks - 1)) -o "$out/%A_%a.log" \
  --wrap "echo task \$SLURM_ARRAY_TASK_ID of \$SLURM_ARRAY_JOB_ID > $out/task\$SLURM_ARRAY_TASK_ID" &
sbatch_pid=$!
wait "$sbatch_pid" || { echo "smoke: FAIL: sbatch --wait failed or took over 60 s"; tail -n 30 "$state/slurmctld.log"; exit 1; }
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
  tail -n 30 "$state/slurmctld.log" "$state/slurmd.log"
  exit 1
fi
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" \
  'BEGIN { printf "smoke: ok: up %.1f s, %d-task array %.1f s, down %.1f s\n", b - a, '"$tasks"', c - b, d - c }'
