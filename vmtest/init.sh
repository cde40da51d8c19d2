#!/bin/busybox sh
# Guest init for vmtest/run.sh: it runs as PID 1 inside the initramfs of a
# QEMU guest. It loads the virtio and 9p modules listed in /modules.load, mounts
# the host's shares, runs the job script that run.sh wrote, and reboots. QEMU
# runs with -no-reboot, so the reboot ends the VM.
#
# Shares (virtio-9p mount tags):
#   vmtest   read-write run directory with bin/, job.sh and out/
#   hostroot the host's / read-only, present only when run.sh exports it and
#            sets vmtest_hostroot=1 on the kernel command line (the kernel
#            passes parameters without a dot to init as environment variables)
#
# Results go to /tmp/vmtest/out/$(uname -r)/ on the share: one NAME.log per test,
# plus a "results" file with lines "NAME EXIT_CODE SECONDS".

/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin /dev /proc /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

log() {
	echo "vmtest: $*" >/dev/console
}

# Flush the 9p share and end the VM. With panic=-1 on the kernel command line
# even an init that exits ends the VM, because the kernel panics and reboots.
finish() {
	sync
	reboot -f
	sleep 5
	echo b >/proc/sysrq-trigger
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys

while read -r module; do
	[ -n "$module" ] || continue
	if ! out=$(insmod "/lib/modules/$module" 2>&1); then
		case "$out" in
		*"File exists"*) ;;
		*) log "insmod $module failed: $out" ;;
		esac
	fi
done </modules.load

# Mount the guest's kernel file systems under the root $1. Tracefs, bpffs and
# cgroup2 are what BPF tests expect at their usual places.
mount_kernel_fs() {
	root=$1
	mkdir -p "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/run" 2>/dev/null
	[ "$root" = / ] || mount -t proc proc "$root/proc"
	[ "$root" = / ] || mount -t sysfs sysfs "$root/sys"
	[ "$root" = / ] || mount -t devtmpfs devtmpfs "$root/dev"
	mkdir -p "$root/dev/pts" "$root/dev/shm"
	mount -t devpts devpts "$root/dev/pts"
	mount -t tmpfs tmpfs "$root/dev/shm"
	mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
	mount -t tmpfs -o mode=0755 tmpfs "$root/run"
	mount -t tracefs tracefs "$root/sys/kernel/tracing" ||
		log "mount tracefs failed"
	mount -t debugfs debugfs "$root/sys/kernel/debug" ||
		log "mount debugfs failed"
	mount -t bpf bpf "$root/sys/fs/bpf" || log "mount bpffs failed"
	mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup" ||
		log "mount cgroup2 failed"
}

p9opts=trans=virtio,version=9p2000.L,msize=512000
root=/
mkdir -p /host
if [ "${vmtest_hostroot:-0}" = 1 ]; then
	if mount -t 9p -o "ro,$p9opts" hostroot /host; then
		root=/host
	else
		log "mount of the host root failed, running in the initramfs"
	fi
fi
mount_kernel_fs "$root"

# The run directory is at /tmp/vmtest inside the root the tests see.
work=$root/tmp/vmtest
mkdir -p "$work"
if ! mount -t 9p -o "rw,$p9opts" vmtest "$work"; then
	log "mount of the vmtest share failed"
	finish
fi

# Tests run through a busybox copy inside their root, so cd and exec work the
# same with and without the host root.
mkdir -p "$root/tmp/.vmtest-bin"
cp /bin/busybox "$root/tmp/.vmtest-bin/busybox"

release=$(uname -r)
out=$work/out/$release
mkdir -p "$out"
: >"$out/results"
log "kernel $release ready after $(cut -d' ' -f1 /proc/uptime)s"

uptime_centiseconds() {
	read -r up _ </proc/uptime
	echo "${up%.*}${up#*.}"
}

# run_test NAME DIR COMMAND [ARGS...] runs COMMAND as root with DIR as its
# working directory inside the test root. Its output goes to NAME.log on the
# share, and its exit code and duration to the results file.
run_test() {
	name=$1
	dir=$2
	shift 2
	start=$(uptime_centiseconds)
	chroot "$root" /tmp/.vmtest-bin/busybox env -i \
		PATH="$test_path" HOME=/tmp TMPDIR=/tmp \
		GOMODCACHE="$test_gomodcache" GOCACHE=/tmp/go-build \
		GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=readonly \
		ZOMBIETRACE_REQUIRE_BPF=1 ZOMBIETRACE_TIMEOUT_SCALE=10 ZOMBIETRACE_VMTEST_KERNEL="$release" \
		/tmp/.vmtest-bin/busybox sh -c 'cd "$1" && shift && exec "$@"' \
		sh "$dir" "$@" >"$out/$name.log" 2>&1 </dev/null
	rc=$?
	end=$(uptime_centiseconds)
	elapsed=$((end - start))
	seconds=$((elapsed / 100)).$(printf '%02d' $((elapsed % 100)))
	echo "$name $rc $seconds" >>"$out/results"
	log "$name exit=$rc ${seconds}s"
}

# job.sh may set these before its run_test calls.
test_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
test_gomodcache=/tmp/go/pkg/mod
. "$work/job.sh"

log "done"
finish
