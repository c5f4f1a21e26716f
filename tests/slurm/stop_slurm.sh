#!/usr/bin/env bash
# Stop the daemons that tests/slurm/start_slurm.sh started, and only those: each is found
# by the PID file start_slurm.sh wrote in the state folder ($SLURM_TEST_DIR, default
# /tmp/netmob-slurm) and signalled only while that process still runs the same program.
# --keep-munge leaves munged running (start_slurm.sh uses it when slurm.conf changed).
# Bounded: SIGTERM, up to 15 s, then SIGKILL.
set -uo pipefail

STATE=${SLURM_TEST_DIR:-/tmp/netmob-slurm}
keep_munge=0
[ "${1:-}" = "--keep-munge" ] && keep_munge=1

# PID runs PROGRAM and has not exited (a zombie waits for PID 1 to reap it).
running() { # running PID PROGRAM
    [ -d "/proc/$1" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ] \
        && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

stop_one() { # stop_one NAME PROGRAM
    local pidfile="$STATE/pid/$1.pid" pid
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if running "$pid" "$2"; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 1 30); do
            running "$pid" "$2" || break
            sleep 0.5
        done
        if running "$pid" "$2"; then
            echo "stop_slurm: $1 ($pid) ignored SIGTERM for 15 s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
        echo "stop_slurm: stopped $1 ($pid)" >&2
    fi
    rm -f "$pidfile"
}

# slurmd first, so that the controller does not mark the node down while it stops.
stop_one slurmd slurmd
stop_one slurmctld slurmctld
[ "$keep_munge" = 1 ] || stop_one munged munged
if [ "$keep_munge" = 0 ] && [ -L /etc/slurm/slurm.conf ] \
    && [ "$(readlink /etc/slurm/slurm.conf)" = "$STATE/slurm.conf" ]; then
    rm -f /etc/slurm/slurm.conf
fi
exit 0
