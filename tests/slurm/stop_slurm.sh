#!/usr/bin/env bash
# Stop the daemons that tests/slurm/start_slurm.sh started, and only those: each is found
# by the PID file start_slurm.sh wrote in the state folder ($SLURM_TEST_DIR, default
# /tmp/netmob-slurm) and signalled only when that process still runs the same program.
# --keep-munge leaves munged running (start_slurm.sh uses it when slurm.conf changed).
# Bounded: SIGTERM, up to 15 s, then SIGKILL.
set -uo pipefail

STATE=${SLURM_TEST_DIR:-/tmp/netmob-slurm}
keep_munge=0
[ "${1:-}" = "--keep-munge" ] && keep_munge=1

stop_one() { # stop_one NAME PROGRAM
    local pidfile="$STATE/pid/$1.pid" pid i
    [ -s "$pidfile" ] || return 0
    pid=$(cat "$pidfile")
    if [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]; then
        kill -TERM "$pid" 2>/dev/null
        for i in $(seq 1 30); do
            [ -d "/proc/$pid" ] || break
            sleep 0.5
        done
        if [ -d "/proc/$pid" ]; then
            echo "stop_slurm: $1 ($pid) ignored SIGTERM for 15 s: SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
        echo "stop_slurm: stopped $1 ($pid)" >&2
    fi
    rm -f "$pidfile"
}

# Jobs still running are ended with the controller; slurmd first so that no step lingers.
stop_one slurmd slurmd
stop_one slurmctld slurmctld
[ "$keep_munge" = 1 ] || stop_one munged munged
if [ "$keep_munge" = 0 ] && [ -L /etc/slurm/slurm.conf ] \
    && [ "$(readlink /etc/slurm/slurm.conf)" = "$STATE/slurm.conf" ]; then
    rm -f /etc/slurm/slurm.conf
fi
exit 0
