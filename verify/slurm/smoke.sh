#!/bin/bash
# Opt-in smoke test of the Slurm path (not part of `cargo test`): runs a small sweep as a job
# array on a throw-away single-node Slurm cluster on this machine, merges it, and checks that
# the merged CSV files are byte-identical to an unsharded local run.
#
#   sudo bash verify/slurm/smoke.sh        (as root; Debian/Ubuntu)
#
# What it does:
#   1. installs Debian's slurm-wlm and munge with apt-get unless slurmctld, slurmd, sbatch and
#      munged are already there (a temporary /usr/sbin/policy-rc.d stops the packages from
#      starting their own daemons; it is removed afterwards);
#   2. builds the release binary (cargo build --release), then re-runs itself in a new network
#      namespace (`unshare --net --mount`, only `lo` inside, with a private /etc/hosts that
#      maps this machine's name to 127.0.0.1, and 192.0.2.1 on lo so that glibc's
#      AI_ADDRCONFIG finds an IPv4 address) for everything that follows, so nothing
#      it starts can be reached from outside this machine (if unshare is not permitted it says
#      so and stays in the host's namespace);
#   3. in a fresh temporary folder: a munge key, a single-node slurm.conf (loopback only:
#      SlurmctldHost=localhost, NodeName=localhost NodeAddr=127.0.0.1, this machine's CPUs and
#      RealMemory from `slurmd -C`, proctrack/linuxproc and task/none (no cgroup use), no
#      accounting, state and spool folders in the temporary folder, ports 16817/16818);
#   4. starts munged, slurmctld and slurmd directly in the foreground as background processes
#      (no systemd) and waits until the node is idle;
#   5. submits the sweep with verify/slurm/submit.sh as an array of SMOKE_SHARDS tasks plus
#      the dependent merge job, and polls squeue (no sacct: there is no accounting) until both
#      are gone; checks with scontrol that every task and the merge COMPLETED with exit 0;
#   6. resubmits array task 1 alone (the recovery path for a failed task): it must resume,
#      run no trial again, and leave every trial exactly once; merges again;
#   7. runs the same sweep locally, unsharded, and compares every CSV file of both merges with
#      the local ones (cmp);
#   8. prints PASS or FAIL, and on exit always cancels its jobs, stops the daemons it started by
#      their process ids and removes the temporary folder (SMOKE_KEEP=1 keeps it).
#
# Settings (environment): SMOKE_CONFIG (default verify/sweeps/quick.toml), SMOKE_SHARDS (3),
# SMOKE_TIMEOUT (seconds to wait for the jobs, 900), SMOKE_PORT (slurmctld's port, 16817;
# slurmd uses the next one), SMOKE_KEEP.

set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
config="${SMOKE_CONFIG:-verify/sweeps/quick.toml}"
shards="${SMOKE_SHARDS:-3}"
timeout="${SMOKE_TIMEOUT:-900}"
port="${SMOKE_PORT:-16817}"

say() { echo "[smoke $(date -u +%H:%M:%S)] $*"; }
fail() {
    say "FAIL: $*"
    exit 1
}

[[ $EUID -eq 0 ]] || fail "run as root (it installs packages and starts munged, slurmctld and slurmd)"
[[ -r "$config" ]] || fail "no sweep config $config"
((shards >= 2)) || fail "SMOKE_SHARDS must be at least 2 (task 1 is resubmitted), got $shards"

tmp="" policy_rc="" pids=() jobs=()

# Stops what this script started: its jobs, then the daemons by process id (TERM, then KILL
# after 10 s), then removes the temporary folder and the policy-rc.d it created.
cleanup() {
    local status=$?
    set +e
    if ((${#jobs[@]})) && [[ -n "${SLURM_CONF:-}" ]]; then
        scancel "${jobs[@]}" 2>/dev/null
        for _ in $(seq 20); do
            [[ -z "$(squeue -h -j "$(IFS=,; echo "${jobs[*]}")" 2>/dev/null)" ]] && break
            sleep 0.5
        done
    fi
    if ((status != 0)) && [[ -n "$tmp" ]]; then
        for log in "$tmp"/log/*.log "$tmp"/shards/logs/*.out; do
            [[ -f "$log" ]] || continue
            echo "----- last lines of $log"
            tail -n 15 "$log"
        done
    fi
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "process $pid did not stop on TERM; sending KILL"
            kill -KILL "$pid" 2>/dev/null
        fi
        wait "$pid" 2>/dev/null
    done
    ((${#pids[@]})) && say "stopped the daemons (pids ${pids[*]})"
    [[ -n "$policy_rc" ]] && rm -f "$policy_rc"
    if [[ -n "$tmp" ]]; then
        if [[ -n "${SMOKE_KEEP:-}" ]]; then
            say "kept $tmp"
        else
            rm -rf "$tmp"
        fi
    fi
    return "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. Packages.
if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null &&
    command -v munged >/dev/null && command -v mungekey >/dev/null; then
    say "slurm-wlm and munge already installed"
else
    say "installing slurm-wlm and munge (apt-get)"
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        policy_rc=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
        chmod 755 "$policy_rc"
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q slurm-wlm munge >/dev/null
    [[ -n "$policy_rc" ]] && rm -f "$policy_rc" && policy_rc=""
fi
say "$(dpkg-query -W -f '${Package} ${Version}\n' slurm-wlm munge | paste -sd ' ' | sed 's/ \([a-z]\)/, \1/g')"

for p in "$port" "$((port + 1))"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        fail "port $p is in use; set SMOKE_PORT to a free pair of ports"
    fi
done

# 2. The binary (before any daemon starts).
if [[ -z "${SMOKE_NETNS:-}" ]]; then
    say "cargo build --release"
    cargo build --release --quiet
fi
export DPR_AUDIT="${CARGO_TARGET_DIR:-$repo/target}/release/dpr-audit"
[[ -x "$DPR_AUDIT" ]] || fail "no binary at $DPR_AUDIT"

# Loopback only: the rest (daemons, jobs, the local run) runs in a new network namespace whose
# only interface is lo, so no daemon can be reached from outside whatever address it binds
# (Slurm 22.05's slurmctld binds 0.0.0.0 even with NoInAddrAny). Steps 1–2 needed the network.
if [[ -z "${SMOKE_NETNS:-}" ]]; then
    if unshare --net --mount true 2>/dev/null; then
        # No DNS in there: slurmd resolves this machine's name through a private /etc/hosts
        # (bind-mounted in the new mount namespace only; the real file is untouched).
        hosts="$(mktemp /tmp/dpr-slurm-smoke-hosts.XXXXXX)"
        { cat /etc/hosts; echo "127.0.0.1 $(hostname)"; } >"$hosts"
        say "continuing in a new network namespace (unshare --net --mount): only the loopback interface exists there"
        trap - EXIT
        exec unshare --net --mount env SMOKE_NETNS="$hosts" bash "${BASH_SOURCE[0]}"
    fi
    say "warning: unshare --net is not available here; the daemons run in this machine's network namespace (configured for 127.0.0.1)"
else
    mount --bind "$SMOKE_NETNS" /etc/hosts
    rm -f "$SMOKE_NETNS"
    ip link set lo up
    # glibc's getaddrinfo(AI_ADDRCONFIG), which Slurm uses, finds no IPv4 name unless some
    # address other than 127.0.0.1 is configured: add one from TEST-NET-1, on lo itself.
    ip addr add 192.0.2.1/32 dev lo
    say "network namespace interfaces: $(ip -o link show | awk -F': ' '{print $2}' | paste -sd ' ')"
fi

# 3. Configuration in a temporary folder.
tmp="$(mktemp -d /tmp/dpr-slurm-smoke.XXXXXX)"
chmod 755 "$tmp" # munged needs its socket's folders searchable by all
mkdir -m 700 "$tmp/munge"
mkdir -m 755 "$tmp/run" "$tmp/log" "$tmp/state" "$tmp/spool"
mungekey --create --keyfile="$tmp/munge/munge.key"

# This machine as slurmd sees it (CPUs, boards, sockets, cores, threads, RealMemory), renamed.
hardware="$(slurmd -C | head -n 1 | sed 's/^NodeName=[^ ]* //')"
cpus="$(grep -o 'CPUs=[0-9]*' <<<"$hardware" | cut -d= -f2)"
memory="$(grep -o 'RealMemory=[0-9]*' <<<"$hardware" | cut -d= -f2)"
[[ -n "$cpus" && -n "$memory" ]] || fail "cannot read CPUs and RealMemory from slurmd -C: $hardware"
export SLURM_CONF="$tmp/slurm.conf"
cat >"$SLURM_CONF" <<EOF
# Single-node throw-away cluster of verify/slurm/smoke.sh (loopback only).
ClusterName=dprsmoke
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
CommunicationParameters=NoInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$tmp/run/munge.socket
StateSaveLocation=$tmp/state
SlurmdSpoolDir=$tmp/spool
SlurmctldPidFile=$tmp/run/slurmctld.pid
SlurmdPidFile=$tmp/run/slurmd.pid
SlurmctldLogFile=$tmp/log/slurmctld.log
SlurmdLogFile=$tmp/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MinJobAge=3600
SlurmdTimeout=60
NodeName=localhost NodeAddr=127.0.0.1 $hardware State=UNKNOWN
PartitionName=smoke Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
say "slurm.conf in $tmp: node localhost (127.0.0.1), $cpus CPUs, $memory MB, ports $port/$((port + 1))"

# 4. Daemons, each in the foreground of its own background process (its pid is the daemon's).
munged --foreground --key-file="$tmp/munge/munge.key" --socket="$tmp/run/munge.socket" \
    --pid-file="$tmp/run/munged.pid" --log-file="$tmp/log/munged.log" --seed-file="$tmp/munge/munged.seed" \
    >>"$tmp/log/munged.log" 2>&1 &
pids+=("$!")
for _ in $(seq 40); do
    [[ -S "$tmp/run/munge.socket" ]] && break
    sleep 0.25
done
munge --socket="$tmp/run/munge.socket" -n | unmunge --socket="$tmp/run/munge.socket" >/dev/null ||
    fail "munged does not answer"
slurmctld -D -f "$SLURM_CONF" >>"$tmp/log/slurmctld.log" 2>&1 &
pids+=("$!")
slurmd -D -f "$SLURM_CONF" -N localhost >>"$tmp/log/slurmd.log" 2>&1 &
pids+=("$!")
say "started munged, slurmctld, slurmd (pids ${pids[*]})"
state=""
for _ in $(seq 120); do
    for pid in "${pids[@]}"; do
        kill -0 "$pid" 2>/dev/null || fail "daemon $pid exited"
    done
    state="$(sinfo -h -n localhost -o %T 2>/dev/null || true)"
    [[ "$state" == "idle" ]] && break
    sleep 0.5
done
[[ "$state" == "idle" ]] || fail "the node is not idle after 60 s (state '$state')"
say "node localhost is idle: $(sinfo -h -o '%P %D %c %m %T' | head -1) (partition nodes cpus memory state)"
if command -v ss >/dev/null; then
    where="this machine"
    [[ -n "${SMOKE_NETNS:-}" ]] && where="the private network namespace (only lo)"
    say "listening in $where on: $(ss -Hltn "( sport = :$port or sport = :$((port + 1)) )" | awk '{print $4}' | paste -sd ' ')"
fi

# Waits until none of the given jobs is in squeue, then checks with scontrol that each job (every
# array task) COMPLETED with exit code 0:0.
wait_jobs() {
    local ids
    ids="$(IFS=,; echo "$*")"
    local waited=0
    while [[ -n "$(squeue -h -j "$ids" -o %i)" ]]; do
        ((waited < timeout)) || fail "jobs $ids still queued or running after $timeout s: $(squeue -h -j "$ids" -o '%i %T %r' | paste -sd ';')"
        sleep 1
        waited=$((waited + 1))
    done
    local id line
    for id in "$@"; do
        while read -r line; do
            local name state code
            name="$(grep -o 'JobId=[^ ]*' <<<"$line")"
            state="$(grep -o 'JobState=[^ ]*' <<<"$line")"
            code="$(grep -o ' ExitCode=[^ ]*' <<<"$line")"
            [[ "$state" == "JobState=COMPLETED" && "$code" == " ExitCode=0:0" ]] ||
                fail "job $name ended with $state$code"
        done < <(scontrol -o show job "$id")
    done
}

# 5. The sweep as an array job plus the dependent merge.
say "submitting $config as an array of $shards tasks plus the merge (verify/slurm/submit.sh)"
submitted="$(MERGED="$tmp/merged" SWEEP_SBATCH_OPTIONS="--cpus-per-task=1 --time=00:20:00" \
    verify/slurm/submit.sh "$config" "$tmp/shards" "$shards")"
echo "$submitted" | sed 's/^/    /'
read -r array merge < <(tail -n 1 <<<"$submitted")
jobs+=("$array" "$merge")
wait_jobs "$array" "$merge"
say "array job $array: $(scontrol -o show job "$array" | grep -c 'JobState=COMPLETED') tasks COMPLETED (exit 0:0); merge job $merge COMPLETED"
for ((i = 0; i < shards; i++)); do
    grep -h '^sweep shard' "$tmp"/shards/logs/shard-"$i"-of-"$shards"-*.out | sed 's/^/    /'
done

# 6. Resubmit task 1 alone: it must resume and run nothing again.
say "resubmitting array task 1 alone (sbatch --array=1 sweep.sbatch …)"
again="$(sbatch --parsable --array=1 --cpus-per-task=1 --output="$tmp/shards/logs/again-%a.out" \
    verify/slurm/sweep.sbatch "$config" "$tmp/shards" "$shards")"
again="${again%%;*}"
jobs+=("$again")
wait_jobs "$again"
report="$(grep -h '^sweep shard' "$tmp/shards/logs/again-1.out")"
echo "    $report"
[[ "$report" == *"(0 run now,"* ]] || fail "the resubmitted task ran trials again: $report"
for done_file in "$tmp"/shards/shard-*/done.txt; do
    duplicates="$(cut -d" " -f1 "$done_file" | sort | uniq -d | head -3)"
    [[ -z "$duplicates" ]] || fail "$done_file lists trials twice: $duplicates"
done
merge2="$(sbatch --parsable --job-name=dpr-merge --output="$tmp/shards/logs/merge-again-%j.out" \
    verify/slurm/sweep.sbatch --merge "$tmp/shards" "$tmp/merged-again")"
merge2="${merge2%%;*}"
jobs+=("$merge2")
wait_jobs "$merge2"
grep -h '^merge:' "$tmp"/shards/logs/merge-*.out | sed 's/^/    /'

# 7. The same sweep locally, unsharded, and the comparison.
say "running the same sweep locally, unsharded"
"$DPR_AUDIT" --quiet --out "$tmp/local" sweep --config "$config"
mapfile -t local_csv < <(cd "$tmp/local" && find . -name '*.csv' -not -path './shard-*' | sort)
((${#local_csv[@]})) || fail "the local run wrote no CSV file"
for merged in "$tmp/merged" "$tmp/merged-again"; do
    mapfile -t merged_csv < <(cd "$merged" && find . -name '*.csv' | sort)
    [[ "${merged_csv[*]}" == "${local_csv[*]}" ]] ||
        fail "$merged has CSV files (${merged_csv[*]}) other than the local run's (${local_csv[*]})"
    for f in "${local_csv[@]}"; do
        cmp "$tmp/local/$f" "$merged/$f" || fail "$merged/$f differs from the local run"
    done
done
rows="$(cat "$tmp"/shards/shard-*/done.txt | wc -l)"
say "compared ${#local_csv[@]} CSV files (${local_csv[*]#./}) of both merges with the local run: byte-identical; $rows trials, each exactly once"
say "PASS"
