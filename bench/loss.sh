#!/usr/bin/env bash
# Event loss under fork/exit/wait storms: first one storm per core with the
# default ring buffer, then smaller ring buffers and more storms, to find
# where loss begins.
#
#   bench/loss.sh
#   SIZES="4096 16384 65536 262144 1048576" STORM_COUNTS="4 8" bench/loss.sh
. "$(dirname "$0")/lib.sh"
DEFAULT_SECONDS=${DEFAULT_SECONDS:-10}
SWEEP_SECONDS=${SWEEP_SECONDS:-5}
SIZES=${SIZES:-4096 16384 65536 262144 1048576}
STORM_COUNTS=${STORM_COUNTS:-4 8}

build
machine

# trial runs STORMS storms for SECONDS with the given ring buffer size and
# prints a RESULT line with the cycle rate, the event rate and the loss.
trial() {
	local storms=$1 seconds=$2 size=$3 pids=() i
	zt_start --ring-buffer-size "$size"
	sleep 0.5
	for i in $(seq "$storms"); do
		"$WORK/storm" "$seconds" >"$WORK/storm.$i" &
		pids+=("$!")
		STARTED_PIDS+=("$!")
	done
	for i in "${pids[@]}"; do
		wait "$i"
	done
	zt_stop
	local summary cycles lost events
	summary=$(zt_summary)
	cycles=$(cat "$WORK"/storm.* | sed -n 's/^cycles=\([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s }')
	rm -f "$WORK"/storm.*
	lost=$(echo "$summary" | jq '[.events_lost[]] | add')
	events=$(echo "$summary" | jq '.events')
	echo "RESULT loss storms=$storms seconds=$seconds ring_buffer_bytes=$size cycles_per_second=$((cycles / seconds)) events=$events events_per_second_estimate=$((events / seconds)) lost=$lost lost_fraction=$(awk -v l="$lost" -v e="$events" 'BEGIN { printf "%.4f", l / (l + e) }') lost_by_kind=$(echo "$summary" | jq -c '.events_lost')"
}

cores=$(nproc)
trial "$cores" "$DEFAULT_SECONDS" 4194304
for size in $SIZES; do
	trial "$cores" "$SWEEP_SECONDS" "$size"
done
for storms in $STORM_COUNTS; do
	trial "$storms" "$SWEEP_SECONDS" 4194304
done
