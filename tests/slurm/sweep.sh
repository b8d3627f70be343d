#!/usr/bin/env bash
# A sweep run locally and through Slurm gives the same rows (issue 14): the
# LeNet-5 grid rows x read_sigma x 2 seeds on 500 Fashion-MNIST images with
# --jobs 2, then as an sbatch array and a merge job on the one-node cluster
# of scripts/slurm-cluster with --wait.  Every column but the two timings
# (compile_s, run_s: the machine's) must be identical; --status must count
# the shards; with a shard's rows removed, --resume submits that shard alone
# and the results come back the same.
# Usage: sweep.sh XBARC MODELS_DIR.  Exit 77 (skipped) when not root, when
# Slurm/munge are absent, or without the Fashion-MNIST package.
set -euo pipefail

xbarc=$1
models=$2
name=sweep
[ -d /usr/share/datasets/fashion-mnist ] || { echo "sweep: skipped, no dataset-fashion-mnist"; exit 77; }
source "$(dirname "$0")/cluster.sh"

fail() { echo "sweep: FAIL: $*"; for f in "$work"/slurm.csv.sweep/slurm/*.out; do [ -f "$f" ] && { echo "----- $f"; cat "$f"; }; done; cluster_logs; exit 1; }
work=$state/work
mkdir "$work"
cd "$work"
grid=(--model "$models/lenet5.onnx" --dataset fashion-mnist --limit 500 --vary rows=64,128
      --vary read_sigma=0,0.02 --seeds 2)
# the two timing columns come last
deterministic() { cut -d, -f1-$(($(head -n 1 "$1" | tr ',' '\n' | wc -l) - 2)) "$1"; }

t0=$(now)
"$xbarc" sweep "${grid[@]}" --jobs 2 -o local.csv > local.out 2> local.err || { cat local.err; fail "the local sweep"; }
t1=$(now)
cluster_up > /dev/null
t2=$(now)
# in the background, so that TERM/INT run the clean-up at once
timeout 200 "$xbarc" sweep "${grid[@]}" --slurm --wait -o slurm.csv > slurm.out 2> slurm.err &
background_pid=$!
wait "$background_pid" || { cat slurm.err; fail "the Slurm sweep failed or took over 200 s"; }
background_pid=
t3=$(now)

[ "$(cat slurm.out)" = slurm.csv ] || fail "--wait printed '$(cat slurm.out)', not the results' path"
head -n 1 local.csv | grep -q '^point,rows,read_sigma,seed,accuracy,.*energy_pj,.*tiles,utilization,' ||
  fail "the header is $(head -n 1 local.csv)"
rows=$(($(wc -l < local.csv) - 1))
[ "$rows" -eq 8 ] || fail "$rows rows locally, not 8"
diff <(deterministic local.csv) <(deterministic slurm.csv) > diff.out || { cat diff.out; fail "local and Slurm rows differ"; }
"$xbarc" sweep --status slurm.csv.sweep > status.out
grep -q ': 8 of 8 rows (100.0%)' status.out && grep -q '^shards: 2 of 2 complete' status.out ||
  { cat status.out; fail "--status"; }

# a shard lost: --resume runs it alone
rm slurm.csv.sweep/rows/shard-1-*.jsonl
"$xbarc" sweep --status slurm.csv.sweep > status.out
grep -q "^shards: 1 of 2 complete" status.out || { cat status.out; fail "--status after a shard was lost"; }
timeout 200 "$xbarc" sweep "${grid[@]}" --slurm --resume --wait -o slurm.csv > resume.out 2> resume.err &
background_pid=$!
wait "$background_pid" || { cat resume.err; fail "--resume failed or took over 200 s"; }
background_pid=
grep -q '1 of 2 shards submitted' resume.err || { cat resume.err; fail "--resume submitted more than the lost shard"; }
diff <(deterministic local.csv) <(deterministic slurm.csv) > diff.out || { cat diff.out; fail "rows differ after --resume"; }
t4=$(now)

"$cluster" down "$state" > /dev/null
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" 'BEGIN { printf "sweep: ok: 8 identical rows; local %.1f s, cluster up %.1f s, Slurm %.1f s, resume %.1f s\n", b - a, c - b, d - c, e - d }'
