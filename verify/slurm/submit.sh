#!/bin/bash
# Submits a dpr-audit sweep as a Slurm job array (one shard per task, verify/slurm/sweep.sbatch)
# and a merge job that runs when every task has succeeded (afterok).
#
#   verify/slurm/submit.sh CONFIG OUT N [GLOBAL OPTION…]
#   e.g. verify/slurm/submit.sh verify/sweeps/hlv-synthetic.toml runs/hlv 16 --seed 1
#
# Writes OUT/shard-i-of-N/ (i = 0..N−1), the job logs in OUT/logs/, and the final outputs in
# $MERGED (default OUT-merged). Prints "ARRAY_JOB_ID MERGE_JOB_ID" on the last line.
# Extra sbatch options for both jobs (partition, account, time, …): SWEEP_SBATCH_OPTIONS, e.g.
#   SWEEP_SBATCH_OPTIONS="--partition=short --time=00:30:00" verify/slurm/submit.sh …
#
# Safe to run again with the same arguments: every shard resumes (--resume), so finished
# shards exit at once and only missing trials run; a new merge job is queued. That is also the
# way to recover when a task failed (its merge job then never starts: scancel it, fix the
# cause, run this again) — or resubmit just task i:
#   sbatch --array=i verify/slurm/sweep.sbatch CONFIG OUT N [GLOBAL OPTION…]
# and merge by hand: dpr-audit --out OUT-merged merge OUT

set -euo pipefail

if [[ $# -lt 3 ]]; then
    echo "usage: $0 CONFIG OUT N [GLOBAL OPTION…]   (e.g. $0 verify/sweeps/quick.toml runs/quick 4)" >&2
    exit 2
fi
config="$1" out="$2" shards="$3"
shift 3
if ! [[ "$shards" =~ ^[1-9][0-9]*$ ]]; then
    echo "$0: N must be a positive integer, got '$shards'" >&2
    exit 2
fi
if [[ ! -r "$config" ]]; then
    echo "$0: cannot read the config $config" >&2
    exit 2
fi
merged="${MERGED:-$out-merged}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
read -r -a extra <<<"${SWEEP_SBATCH_OPTIONS:-}"

mkdir -p "$out/logs"
array=$(sbatch --parsable "${extra[@]}" --array="0-$((shards - 1))" \
    --output="$out/logs/shard-%a-of-$shards-%A.out" \
    "$here/sweep.sbatch" "$config" "$out" "$shards" "$@")
array="${array%%;*}"
merge=$(sbatch --parsable "${extra[@]}" --job-name=dpr-merge --dependency="afterok:$array" \
    --output="$out/logs/merge-%j.out" \
    "$here/sweep.sbatch" --merge "$out" "$merged" "$@")
merge="${merge%%;*}"
echo "submitted: array job $array ($shards shards of $config into $out), merge job $merge (into $merged, after all shards succeed)"
echo "$array $merge"
