#!/usr/bin/env bash
# zombietrace's memory with 10,000 lingering zombies, its time from start
# to attached, and its detection latency beyond --min-age.
#
#   ZOMBIES=10000 STARTS=10 LATENCY_ZOMBIES=250 bench/footprint.sh
. "$(dirname "$0")/lib.sh"
ZOMBIES=${ZOMBIES:-10000}
STARTS=${STARTS:-10}
LATENCY_ZOMBIES=${LATENCY_ZOMBIES:-250}
LATENCY_INTERVAL_MS=${LATENCY_INTERVAL_MS:-23}
LATENCY_MIN_AGE=${LATENCY_MIN_AGE:-1s}

build
machine

status_kib() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }

# Memory with ZOMBIES lingering zombies, all reported (default --min-age).
zt_start
sleep 1
idle_rss=$(status_kib "$ZT_PID" VmRSS)
ns_start "$WORK/zombies.out" "$WORK/zombies" "$ZOMBIES" 0
wait_for_line "$WORK/zombies.out" ready 120
sleep 7 # --min-age (5 s) and time to write the records
reported=$(grep -c '"type":"lingering".*"comm":"zombies"' "$WORK/zt.out" || true)
rss=$(status_kib "$ZT_PID" VmRSS)
hwm=$(status_kib "$ZT_PID" VmHWM)
ns_stop "$NS_PID"
sleep 1
zt_stop
echo "RESULT memory zombies=$ZOMBIES reported=$reported idle_rss_kib=$idle_rss rss_kib=$rss hwm_kib=$hwm target_mib=40 met=$(awk -v h="$hwm" 'BEGIN { print (h <= 40 * 1024) ? "yes" : "no" }')"

# Time from exec to the ready file, which zombietrace writes once every
# probe is attached and the start-up /proc scan is done.
: >"$WORK/starts"
mkfifo "$WORK/tick.fifo"
exec 9<>"$WORK/tick.fifo" # never written: reads on it just time out
for _ in $(seq "$STARTS"); do
	rm -f "$WORK/ready"
	start=$EPOCHREALTIME
	"$ZT" --output json --ready-file "$WORK/ready" >/dev/null 2>"$WORK/zt.err" &
	ZT_PID=$!
	STARTED_PIDS+=("$ZT_PID")
	# Poll with the shell's read builtin, which starts no process, every 1 ms.
	until [ -e "$WORK/ready" ]; do
		read -r -t 0.001 -u 9 || true
		kill -0 "$ZT_PID" 2>/dev/null || { cat "$WORK/zt.err" >&2; exit 1; }
	done
	end=$EPOCHREALTIME
	awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }' >>"$WORK/starts"
	zt_stop
done
read -r med min max < <(median_spread <"$WORK/starts")
echo "RESULT startup starts=$STARTS median_ms=$med min_ms=$min max_ms=$max target_ms=1000 met=$(awk -v m="$med" 'BEGIN { print (m < 1000) ? "yes" : "no" }')"

# Detection latency: zombies made one every LATENCY_INTERVAL_MS ms, with
# each line of zombietrace's output stamped with the time it was read.
mkfifo "$WORK/zt.fifo"
while IFS= read -r line; do
	printf '%s %s\n' "$EPOCHREALTIME" "$line"
done <"$WORK/zt.fifo" >"$WORK/zt.stamped" &
STAMPER=$!
ZT_STDOUT=$WORK/zt.fifo zt_start --min-age "$LATENCY_MIN_AGE"
ns_start "$WORK/zombies.out" "$WORK/zombies" "$LATENCY_ZOMBIES" "$LATENCY_INTERVAL_MS"
wait_for_line "$WORK/zombies.out" ready 120
sleep 3
ns_stop "$NS_PID"
sleep 0.5
zt_stop
wait "$STAMPER"
grep -v ready "$WORK/zombies.out" >"$WORK/deaths"
"$WORK/latency" -deaths "$WORK/deaths" -trace "$WORK/zt.stamped" -min-age "$LATENCY_MIN_AGE" | while read -r name rest; do
	p99=$(echo "$rest" | sed -n 's/.*p99_ms=\([0-9.-]*\).*/\1/p')
	echo "RESULT latency_$name min_age=$LATENCY_MIN_AGE interval_ms=$LATENCY_INTERVAL_MS $rest target_p99_ms=50 met=$(awk -v p="$p99" 'BEGIN { print (p != "" && p <= 50) ? "yes" : "no" }')"
done
