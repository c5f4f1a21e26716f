#!/usr/bin/env bash
# Start a real single-node SLURM on 127.0.0.1 for tests/test_slurm.py (see README.md here).
#
# Idempotent: installs slurm-wlm and munge with apt-get when they are missing, writes
# slurm.conf into the state folder ($SLURM_TEST_DIR, default /tmp/netmob-slurm), links it
# as /etc/slurm/slurm.conf (job steps only find it there), starts munged, slurmctld and
# slurmd unless this script's earlier instances still run (PID files in the state folder),
# then waits, bounded by $SLURM_START_TIMEOUT seconds (default 60), until `sinfo` shows the
# node idle. Exits non-zero with the daemons' logs when anything fails.
# Needs root (package install, /etc/slurm, munge's /run folder). No systemd, no cgroups.
set -euo pipefail

STATE=${SLURM_TEST_DIR:-/tmp/netmob-slurm}
TIMEOUT=${SLURM_START_TIMEOUT:-60}
PARTITION=${SLURM_TEST_PARTITION:-debug}
started_at=$(date +%s.%N)

say() { echo "start_slurm: $*" >&2; }

elapsed() { awk -v a="$started_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

show_logs() {
    local log
    for log in "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" "$STATE/log/munged.out" \
        /var/log/munge/munged.log "$STATE/log/slurmctld.out" "$STATE/log/slurmd.out"; do
        if [ -s "$log" ]; then
            echo "----- $log (last 40 lines) -----" >&2
            tail -n 40 "$log" >&2
        fi
    done
}

fail() {
    say "FAILED after $(elapsed) s: $*"
    show_logs
    exit 1
}

# A PID file of this script whose process still runs the expected program (and has not
# exited: a killed daemon stays a zombie until PID 1 reaps it).
alive() { # alive NAME PROGRAM
    local pidfile="$STATE/pid/$1.pid" pid
    [ -s "$pidfile" ] || return 1
    pid=$(cat "$pidfile")
    [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] \
        && [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ] # not a zombie
}

# Wait (bounded) until a command succeeds; the deadline is the overall one.
wait_for() { # wait_for DESCRIPTION COMMAND...
    local description=$1
    shift
    while ! "$@" >/dev/null 2>&1; do
        if awk -v a="$started_at" -v b="$(date +%s.%N)" -v t="$TIMEOUT" 'BEGIN { exit !(b - a > t) }'; then
            fail "timed out after ${TIMEOUT} s waiting for $description"
        fi
        sleep 0.5
    done
}

[ "$(id -u)" = 0 ] || fail "must run as root (installs packages, writes /etc/slurm, starts munged)"

# --- 1. packages ------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sinfo >/dev/null \
    || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -q >&2 || fail "apt-get update failed"
    timeout 900 apt-get install -y -q --no-install-recommends slurm-wlm munge >&2 \
        || fail "apt-get install slurm-wlm munge failed"
    started_at=$(date +%s.%N) # the bring-up time below excludes the install
fi

mkdir -p "$STATE"/{pid,log,ctld,spool}

# --- 2. munge ---------------------------------------------------------------------------
# The socket folder must be mode 755 (munged refuses a group/world-writable one, clients
# need to traverse it); munged runs as the munge user like its packaged service.
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    say "creating /etc/munge/munge.key"
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=128 status=none
    chown munge:munge /etc/munge/munge.key
    chmod 400 /etc/munge/munge.key
fi
munge_works() { munge -n </dev/null | unmunge >/dev/null; }
if alive munged munged || munge_works 2>/dev/null; then
    say "munged already running"
else
    # setpriv execs (runuser would fork), so that $! is munged's own PID.
    setsid setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground \
        >"$STATE/log/munged.out" 2>&1 </dev/null &
    echo $! >"$STATE/pid/munged.pid"
    wait_for "munged (munge -n | unmunge)" munge_works
fi

# --- 3. slurm.conf ----------------------------------------------------------------------
# The node line is what slurmd measures here (CPUs, sockets, cores, memory), so that the
# node never registers with less than configured (which would drain it).
HOST=$(hostname -s)
NODE_LINE=$(slurmd -C | head -n 1)
case "$NODE_LINE" in
    NodeName=*) ;;
    *) fail "slurmd -C printed no NodeName line: $NODE_LINE" ;;
esac
CONF="$STATE/slurm.conf"
NEW_CONF="$STATE/slurm.conf.new"
cat >"$NEW_CONF" <<EOF
# Written by tests/slurm/start_slurm.sh: one node, one partition, on 127.0.0.1.
ClusterName=netmobtest
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/pid/slurmctld.daemon.pid
SlurmdPidFile=$STATE/pid/slurmd.daemon.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No systemd, no cgroups: track processes by /proc, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# No slurmdbd: sacct cannot answer; Snakemake polls squeue, which keeps a finished job
# for MinJobAge seconds.
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MinJobAge=300
MailProg=/bin/true
# Reject at submission a job asking for more than the node has (instead of pending forever).
EnforcePartLimits=ALL
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
Waittime=0
${NODE_LINE} NodeAddr=127.0.0.1 NodeHostname=${HOST} State=UNKNOWN
PartitionName=${PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

running=0
alive slurmctld slurmctld && running=1
if [ "$running" = 1 ] && [ -f "$CONF" ] && ! cmp -s "$NEW_CONF" "$CONF"; then
    say "slurm.conf changed: restarting the daemons"
    bash "$(dirname "$0")/stop_slurm.sh" --keep-munge
    running=0
fi
mv "$NEW_CONF" "$CONF"

mkdir -p /etc/slurm
if [ -e /etc/slurm/slurm.conf ] && [ ! -L /etc/slurm/slurm.conf ]; then
    say "keeping the existing /etc/slurm/slurm.conf as /etc/slurm/slurm.conf.before-netmob"
    mv /etc/slurm/slurm.conf /etc/slurm/slurm.conf.before-netmob
fi
ln -sfn "$CONF" /etc/slurm/slurm.conf
export SLURM_CONF="$CONF"

# --- 4. daemons -------------------------------------------------------------------------
if alive slurmctld slurmctld; then
    say "slurmctld already running"
else
    # -c: a fresh state (no jobs or node states of an earlier run); -D: foreground, so the
    # PID recorded here is the daemon's.
    setsid /usr/sbin/slurmctld -D -c -f "$CONF" >"$STATE/log/slurmctld.out" 2>&1 </dev/null &
    echo $! >"$STATE/pid/slurmctld.pid"
fi
wait_for "slurmctld (scontrol ping)" bash -c "scontrol ping | grep -q UP"
if alive slurmd slurmd; then
    say "slurmd already running"
else
    setsid /usr/sbin/slurmd -D -f "$CONF" >"$STATE/log/slurmd.out" 2>&1 </dev/null &
    echo $! >"$STATE/pid/slurmd.pid"
fi

node_state() { sinfo -h -N -p "$PARTITION" -o '%T' 2>/dev/null | head -n 1; }
node_idle() { case "$(node_state)" in idle | mixed | allocated) return 0 ;; *) return 1 ;; esac; }
resumed=0
while ! node_idle; do
    alive slurmctld slurmctld || fail "slurmctld exited"
    alive slurmd slurmd || fail "slurmd exited"
    case "$(node_state)" in
        down* | drain*)
            if [ "$resumed" = 0 ]; then
                say "node is $(node_state): resuming it"
                scontrol update NodeName="$HOST" State=RESUME >&2 || true
                resumed=1
            fi
            ;;
    esac
    if awk -v a="$started_at" -v b="$(date +%s.%N)" -v t="$TIMEOUT" 'BEGIN { exit !(b - a > t) }'; then
        sinfo -N -l >&2 || true
        fail "timed out after ${TIMEOUT} s waiting for the node to be idle (state: $(node_state))"
    fi
    sleep 0.5
done
say "SLURM up in $(elapsed) s: partition $PARTITION, $(sinfo -h -N -o '%N %c CPUs %m MB %T' | head -n 1); state in $STATE"
