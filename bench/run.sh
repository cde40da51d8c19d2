#!/usr/bin/env bash
# Run every zombietrace benchmark and print a summary of the RESULT lines.
# ZOMBIETRACE_BIN selects the binary to measure (default: a fresh make build).
# Needs root, Go (the version go.mod names) and apt-get for the rest.
# Takes about 5 minutes on 2 cores. Full output goes to $OUT (default
# /tmp/zombietrace-bench.log). docs/benchmarks.md describes each figure.
#
#   bench/run.sh
set -eu -o pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/zombietrace-bench.log}
: >"$OUT"
# Build zombietrace once, so that every script measures the same binary
# even when the tree changes during the run.
if [ -z "${ZOMBIETRACE_BIN:-}" ]; then
	(cd "$(dirname "$BENCH_DIR")" && make -s build)
	ZOMBIETRACE_BIN=$(mktemp /tmp/zombietrace-bench-bin.XXXXXX)
	install -m 0755 "$(dirname "$BENCH_DIR")/bin/zombietrace" "$ZOMBIETRACE_BIN"
	trap 'rm -f "$ZOMBIETRACE_BIN"' EXIT
fi
export ZOMBIETRACE_BIN
failed=()
for script in throughput kernel_cost loss footprint procpoll; do
	echo "== $script" | tee -a "$OUT" >&2
	if ! "$BENCH_DIR/$script.sh" 2>&1 | tee -a "$OUT" >&2; then
		failed+=("$script")
	fi
done
echo
echo "Summary ($(date -u +%FT%TZ), full output in $OUT):"
grep '^RESULT ' "$OUT" | sed 's/^RESULT //' | awk '!/^(machine|binary)/ || !seen[$1]++'
if [ ${#failed[@]} -gt 0 ]; then
	echo "failed: ${failed[*]}" >&2
	exit 1
fi
