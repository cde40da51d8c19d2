#!/usr/bin/env bash
# The /proc polling baseline: CPU time per scan of /proc with 10,000 extra
# processes present, and the detection delay of a 1 s poll beside
# zombietrace's on the same zombies.
#
#   SLEEPERS=10000 SCAN_SECONDS=20 bench/procpoll.sh
. "$(dirname "$0")/lib.sh"
SLEEPERS=${SLEEPERS:-10000}
SCAN_SECONDS=${SCAN_SECONDS:-20}
LATENCY_ZOMBIES=${LATENCY_ZOMBIES:-250}
LATENCY_INTERVAL_MS=${LATENCY_INTERVAL_MS:-23}
LATENCY_MIN_AGE=${LATENCY_MIN_AGE:-1s}

build
machine

ns_start "$WORK/sleepers.out" "$WORK/sleepers" "$SLEEPERS"
SLEEPERS_NS=$NS_PID
wait_for_line "$WORK/sleepers.out" ready 120

# CPU per scan, with no zombies of our own.
"$WORK/procpoll" -interval 1s -duration "${SCAN_SECONDS}s" >"$WORK/scans"
processes=$(grep '^scan ' "$WORK/scans" | tail -1 | sed 's/.*processes=\([0-9]*\).*/\1/')
read -r cpu_med cpu_min cpu_max < <(sed -n 's/^scan .*cpu_us=\([0-9]*\)/\1/p' "$WORK/scans" | median_spread)
read -r wall_med _ _ < <(sed -n 's/^scan .*wall_us=\([0-9]*\).*/\1/p' "$WORK/scans" | median_spread)
echo "RESULT procpoll_scan scans=$(grep -c '^scan ' "$WORK/scans") processes=$processes cpu_us_median=$cpu_med cpu_us_min=$cpu_min cpu_us_max=$cpu_max wall_us_median=$wall_med"

# Detection delay of both, on the same zombies, with the sleepers present.
mkfifo "$WORK/zt.fifo"
while IFS= read -r line; do
	printf '%s %s\n' "$EPOCHREALTIME" "$line"
done <"$WORK/zt.fifo" >"$WORK/zt.stamped" &
STAMPER=$!
ZT_STDOUT=$WORK/zt.fifo zt_start --min-age "$LATENCY_MIN_AGE"
"$WORK/procpoll" -interval 1s >"$WORK/poll" &
POLL_PID=$!
STARTED_PIDS+=("$POLL_PID")
sleep 0.3 # let procpoll's first scan pass before the first zombie
ns_start "$WORK/zombies.out" "$WORK/zombies" "$LATENCY_ZOMBIES" "$LATENCY_INTERVAL_MS"
wait_for_line "$WORK/zombies.out" ready 120
sleep 3
kill -INT "$POLL_PID"
wait "$POLL_PID" || true
ns_stop "$NS_PID"
sleep 0.5
zt_stop
wait "$STAMPER"
ns_stop "$SLEEPERS_NS"
grep -v ready "$WORK/zombies.out" >"$WORK/deaths"
"$WORK/latency" -deaths "$WORK/deaths" -poll "$WORK/poll" | sed "s/^/RESULT procpoll_delay interval=1s sleepers=$SLEEPERS /"
"$WORK/latency" -deaths "$WORK/deaths" -trace "$WORK/zt.stamped" -min-age "$LATENCY_MIN_AGE" |
	sed "s/^/RESULT zombietrace_delay_beside_procpoll min_age=$LATENCY_MIN_AGE sleepers=$SLEEPERS /"
