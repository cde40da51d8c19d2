#!/usr/bin/env bash
# Kernel-side cost of zombietrace's BPF programs per fork/exit/wait cycle,
# from the kernel's BPF statistics (kernel.bpf_stats_enabled=1), and the
# same for a bpftrace script that only counts the same tracepoints.
#
#   SECONDS_PER_STORM=10 STORM_CPU=1 bench/kernel_cost.sh
#
# The storm is pinned as in bench/throughput.sh. With STORM_CPU="" the
# child often runs on another CPU than its parent, and every program
# then costs more, because the task's cache lines move between CPUs.
. "$(dirname "$0")/lib.sh"
SECONDS_PER_STORM=${SECONDS_PER_STORM:-10}

build
need_packages bpftrace bpftrace
machine

# prog_stats prints "ID NAME RUN_TIME_NS RUN_CNT" for each program ID.
prog_stats() {
	local id
	for id in "$@"; do
		bpftool -j prog show id "$id" |
			jq -r '"\(.id) \(.name) \(.run_time_ns // 0) \(.run_cnt // 0)"'
	done
}

# measure runs one storm and prints, per program and in total, the BPF
# run time and run count during it divided by the storm's cycles.
# Arguments: LABEL PROGRAM_ID...
measure() {
	local label=$1
	shift
	prog_stats "$@" >"$WORK/before"
	storm "$SECONDS_PER_STORM" >"$WORK/storm.out"
	prog_stats "$@" >"$WORK/after"
	local cycles
	cycles=$(sed -n 's/^cycles=\([0-9]*\).*/\1/p' "$WORK/storm.out")
	log "$label: $(cat "$WORK/storm.out")"
	join "$WORK/before" "$WORK/after" | awk -v c="$cycles" -v label="$label" -v cpu="${STORM_CPU:-any}" '
		{
			ns = $6 - $3; cnt = $7 - $4; total_ns += ns; total_cnt += cnt
			printf "RESULT kernel_cost_prog tool=%s id=%s name=%s ns_per_cycle=%.0f runs_per_cycle=%.3f ns_per_run=%.0f\n",
				label, $1, $2, ns / c, cnt / c, cnt ? ns / cnt : 0
		}
		END {
			printf "RESULT kernel_cost tool=%s storm_cpu=%s cycles=%d ns_per_cycle=%.0f runs_per_cycle=%.3f target=2000 met=%s\n",
				label, cpu, c, total_ns / c, total_cnt / c, (label !~ /^zombietrace/) ? "n/a" : (total_ns / c <= 2000 ? "yes" : "no")
		}'
}

stats_enable

zt_start
sleep 0.5
# shellcheck disable=SC2046 # one argument per program ID
measure zombietrace $(zt_prog_ids)
zt_stop

# The same with zombietrace's reader stopped (SIGSTOP) and a ring buffer
# large enough for the whole storm. bpf_ringbuf_submit() wakes the reader
# only when the ring was empty, so this run shows the programs' cost
# without the wake-ups; the difference from the run above is their cost.
zt_start --ring-buffer-size 268435456
sleep 0.5
kill -STOP "$ZT_PID"
# shellcheck disable=SC2046 # one argument per program ID
measure zombietrace_reader_stopped $(zt_prog_ids)
kill -CONT "$ZT_PID"
zt_stop

cat >"$WORK/count.bt" <<'BT'
tracepoint:sched:sched_process_fork,
tracepoint:sched:sched_process_exit,
tracepoint:sched:sched_process_wait,
tracepoint:sched:sched_process_free,
tracepoint:signal:signal_generate
{
	@[probe] = count();
}
BT
bpftrace "$WORK/count.bt" >"$WORK/bt.out" 2>&1 &
BT_PID=$!
STARTED_PIDS+=("$BT_PID")
for _ in $(seq 300); do
	grep -q '^Attaching' "$WORK/bt.out" && break
	sleep 0.1
done
sleep 1 # bpftrace prints "Attaching" just before it attaches
# The programs bpftrace holds open, from its file descriptors. (bpftool's
# "pids" field is empty on this kernel's bpftool build, so it cannot be used.)
bt_ids=$(cat "/proc/$BT_PID"/fdinfo/* 2>/dev/null | sed -n 's/^prog_id:[[:space:]]*//p' | sort -un)
if [ -z "$bt_ids" ]; then
	echo "bench: no BPF programs found for bpftrace (PID $BT_PID)" >&2
	cat "$WORK/bt.out" >&2
	exit 1
fi
# shellcheck disable=SC2086 # one argument per program ID
measure bpftrace $bt_ids
kill -INT "$BT_PID"
wait "$BT_PID" || true
stats_restore
log "bpftrace counts: $(grep '^@' "$WORK/bt.out" | tr '\n' ' ')"
