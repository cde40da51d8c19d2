# Shared helpers for the bench/*.sh scripts. Source it; it sets "set -eu",
# builds what the benchmarks need into $WORK and cleans up on exit.
#
# Each script prints its figures as lines starting with "RESULT ", which
# bench/run.sh collects into its summary.

set -eu

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$BENCH_DIR")

if [ "$(id -u)" -ne 0 ]; then
	echo "bench: run as root: zombietrace needs CAP_BPF and CAP_PERFMON, and the benchmarks set kernel.bpf_stats_enabled" >&2
	exit 1
fi

WORK=$(mktemp -d /tmp/zombietrace-bench.XXXXXX)
STARTED_PIDS=()   # background processes to kill and wait for on exit
NS_WRAPPERS=()    # unshare processes whose PID 1 child must be killed on exit
STATS_PREVIOUS="" # kernel.bpf_stats_enabled before we changed it

cleanup() {
	local pid init
	for pid in "${NS_WRAPPERS[@]}"; do
		ns_stop "$pid" || true
	done
	for pid in "${STARTED_PIDS[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill -INT "$pid" 2>/dev/null || true
		fi
	done
	for pid in "${STARTED_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [ -n "$STATS_PREVIOUS" ]; then
		sysctl -q -w kernel.bpf_stats_enabled="$STATS_PREVIOUS" || true
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "[$(date +%T)] $*" >&2; }

# STORM_CPU is the CPU that storm pins bench/c/storm to: the last one by
# default, none when set to "". Pinned, parent and child run on one CPU,
# so the figures do not depend on how fast an idle CPU wakes up or on
# moving the task's cache lines between CPUs.
STORM_CPU=${STORM_CPU-$(($(nproc) - 1))}

# storm runs bench/c/storm with the given arguments, pinned to STORM_CPU.
storm() {
	if [ -n "$STORM_CPU" ]; then
		taskset -c "$STORM_CPU" "$WORK/storm" "$@"
	else
		"$WORK/storm" "$@"
	fi
}

# need_packages installs the Debian packages whose commands are missing.
# Arguments are pairs: COMMAND PACKAGE.
need_packages() {
	local missing=()
	while [ $# -ge 2 ]; do
		command -v "$1" >/dev/null 2>&1 || missing+=("$2")
		shift 2
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
	fi
}

# build compiles zombietrace (or copies $ZOMBIETRACE_BIN when set), the C
# programs and the Go helpers into $WORK. zombietrace is copied there, so
# that a rebuild of bin/zombietrace by someone else during the run does not
# change the binary under test.
build() {
	# Go must be the version go.mod names (Debian's golang-go is older), so it is not installed here.
	command -v go >/dev/null || { echo "bench: go not found: install the Go version that go.mod names" >&2; exit 1; }
	need_packages cc gcc make make bpftool bpftool jq jq unshare util-linux
	if [ -n "${ZOMBIETRACE_BIN:-}" ]; then
		install -m 0755 "$ZOMBIETRACE_BIN" "$WORK/zombietrace"
	else
		(cd "$REPO_DIR" && make -s build >&2)
		install -m 0755 "$REPO_DIR/bin/zombietrace" "$WORK/zombietrace"
	fi
	ZT="$WORK/zombietrace"
	echo "RESULT binary $("$ZT" --version) bytes=$(stat -c %s "$ZT")"
	local prog
	for prog in storm zombies sleepers duty; do
		cc -O2 -Wall -o "$WORK/$prog" "$BENCH_DIR/c/$prog.c"
	done
	(cd "$REPO_DIR" && go build -o "$WORK/procpoll" ./bench/procpoll &&
		go build -o "$WORK/latency" ./bench/latency)
}

# machine prints the machine description that docs/benchmarks.md records.
machine() {
	local model
	model=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
	echo "RESULT machine cpu=\"$model\" cores=$(nproc) memory_mib=$(free -m | awk '/^Mem:/ {print $2}') kernel=$(uname -r)"
}

# zt_start starts zombietrace with the given flags, its JSON output in
# $WORK/zt.out (or $ZT_STDOUT) and its log in $WORK/zt.err, and returns once
# the ready file exists. Sets ZT_PID.
zt_start() {
	local out=${ZT_STDOUT:-$WORK/zt.out}
	rm -f "$WORK/ready"
	# ZT_CPUS pins zombietrace to those CPUs (taskset -c), to tell its own
	# CPU use on the storm's CPU apart from the cost inside the kernel.
	${ZT_CPUS:+taskset -c "$ZT_CPUS"} "$ZT" --output json --ready-file "$WORK/ready" "$@" >"$out" 2>"$WORK/zt.err" &
	ZT_PID=$!
	STARTED_PIDS+=("$ZT_PID")
	local i
	for i in $(seq 500); do
		[ -e "$WORK/ready" ] && return 0
		if ! kill -0 "$ZT_PID" 2>/dev/null; then
			cat "$WORK/zt.err" >&2
			echo "bench: zombietrace exited before it attached" >&2
			exit 1
		fi
		sleep 0.01
	done
	echo "bench: zombietrace not attached after 5 s" >&2
	exit 1
}

# zt_stop sends SIGINT to zombietrace and waits for it. Its summary is the
# last line of its JSON output. Call it in the main shell, not in $(...),
# because only the shell that started zombietrace can wait for it.
zt_stop() {
	local rc=0
	kill -INT "$ZT_PID"
	wait "$ZT_PID" || rc=$?
	if [ "$rc" -ne 0 ]; then
		echo "bench: zombietrace exited with status $rc" >&2
		cat "$WORK/zt.err" >&2
		exit 1
	fi
}

# zt_summary prints zombietrace's summary line.
zt_summary() {
	tail -n 1 "${ZT_STDOUT:-$WORK/zt.out}"
}

# zt_prog_ids prints the program IDs from zombietrace's start line.
zt_prog_ids() {
	sed -n 's/.*prog_ids=\([0-9,]*\).*/\1/p' "$WORK/zt.err" | head -1 | tr ',' ' '
}

# cpu_ticks prints utime+stime of a process in clock ticks.
cpu_ticks() {
	awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"
}

# ns_start runs a command as PID 1 of a new PID namespace, its output in
# the given file. Sets NS_PID to the unshare process.
ns_start() {
	local out=$1
	shift
	# util-linux 2.38's unshare prints "sigprocmask unblock failed" when its
	# child is killed; that message goes to $out.err.
	unshare --pid --fork "$@" >"$out" 2>"$out.err" &
	NS_PID=$!
	NS_WRAPPERS+=("$NS_PID")
}

# ns_stop kills the PID 1 of the namespace that ns_start made, which makes
# the kernel kill and reap everything in it, and waits for unshare.
ns_stop() {
	local wrapper=$1 init
	kill -0 "$wrapper" 2>/dev/null || return 0
	init=$(cat "/proc/$wrapper/task/$wrapper/children" 2>/dev/null || true)
	for pid in $init; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	wait "$wrapper" 2>/dev/null || true
}

# wait_for_line waits until a file contains a line equal to the text.
wait_for_line() {
	local file=$1 text=$2 seconds=${3:-60} i
	for i in $(seq $((seconds * 20))); do
		grep -qx "$text" "$file" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench: no \"$text\" in $file after $seconds s" >&2
	exit 1
}

# stats_enable sets kernel.bpf_stats_enabled=1; cleanup restores the
# previous value.
stats_enable() {
	if [ -z "$STATS_PREVIOUS" ]; then
		STATS_PREVIOUS=$(sysctl -n kernel.bpf_stats_enabled)
	fi
	sysctl -q -w kernel.bpf_stats_enabled=1
}

stats_restore() {
	if [ -n "$STATS_PREVIOUS" ]; then
		sysctl -q -w kernel.bpf_stats_enabled="$STATS_PREVIOUS"
		STATS_PREVIOUS=""
	fi
}

# median_spread reads numbers, one a line, and prints "median min max".
median_spread() {
	sort -g | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "nan nan nan"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		print m, v[1], v[NR] }'
}
