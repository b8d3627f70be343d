# cluster.sh: sourced by the Slurm tests (tests/slurm/*.sh): skips (exit 77)
# unless root with munge and Slurm installed, picks free ports at random
# (two ctest runs on one machine, or a cluster a developer left up, do not
# meet on slurm's defaults), brings the one-node cluster of
# scripts/slurm-cluster up in a fresh state directory and takes it down on
# exit, whatever happens.  Sets: name (for messages), state, SLURM_CONF.
cluster=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../scripts" && pwd)/slurm-cluster

[ "$(id -u)" -eq 0 ] || { echo "$name: skipped, needs root"; exit 77; }
for b in munged slurmctld slurmd sbatch sinfo; do
  command -v "$b" > /dev/null || { echo "$name: skipped, $b not installed (scripts/setup)"; exit 77; }
done

state=$(mktemp -d "/tmp/xbarc-slurm-$name.XXXXXX")
background_pid=
cleanup() {
  [ -z "$background_pid" ] || kill "$background_pid" 2> /dev/null || true
  "$cluster" down "$state" > /dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

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
cluster_up() {
  XBARC_SLURM_UP_TIMEOUT=20 "$cluster" up "$state"
  export SLURM_CONF=$state/slurm.conf
}
cluster_logs() { tail -n 30 "$state/slurmctld.log" "$state/slurmd.log"; }
