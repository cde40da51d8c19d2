#!/usr/bin/env bash
# Boot Debian kernels under QEMU (TCG) and run test binaries as root in each.
# See usage() and vmtest/README.md.
set -euo pipefail

VMTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Debian suites searched for linux-image-amd64. A kernel series such as 6.1
# selects the highest linux-image-amd64 version that starts with "6.1.".
APT_SUITES=(bullseye bookworm bookworm-backports)
APT_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

# Modules the guest needs for its 9p shares. The dependencies of each module
# are read from its modinfo and loaded first. Modules built into a kernel are
# skipped.
BASE_MODULES=(virtio_pci 9pnet_virtio 9p)

kernels="5.10 6.1 6.12"
boot_timeout=300
parallel_jobs=$(nproc)
memory_mib=1024
cpus=2
export_hostroot=1
extra_modules=""
out_dir=""
refresh=0
prepare_only=0
boot_bzimage=0
cache_dir=${VMTEST_CACHE_DIR:-}
if [[ -z $cache_dir ]]; then
	if [[ -n ${XDG_CACHE_HOME:-} ]]; then
		cache_dir=$XDG_CACHE_HOME/zombietrace-vmtest
	else
		cache_dir=$VMTEST_DIR/.cache
	fi
fi

usage() {
	cat <<EOF
Usage: $0 [OPTIONS] [BINARY...] [-- BINARY [ARGS...] [-- BINARY [ARGS...]]...]

Boots each kernel under QEMU with TCG, runs each test binary in it as root with
ZOMBIETRACE_REQUIRE_BPF=1 set, prints one PASS/FAIL line per kernel and binary,
and exits 1 if any binary failed or any boot timed out.

Binaries before the first "--" run without arguments. After "--", each "--"
starts a new binary followed by its arguments.

Options:
  --kernels "LIST"   kernel series to boot, from Debian's linux-image-amd64 in
                     ${APT_SUITES[*]} (default: "$kernels")
  --timeout SECONDS  watchdog for one boot, tests included (default: $boot_timeout)
  --jobs N           number of VMs that run at once (default: $parallel_jobs)
  --memory MIB       guest memory in MiB (default: $memory_mib)
  --cpus N           guest CPUs (default: $cpus)
  --no-hostroot      do not export the host's / read-only to the guest, so the
                     tests see only the initramfs (busybox) and their binary
  --bzimage          boot the compressed kernel image instead of the extracted
                     ELF vmlinux (slower, for kernels without PVH support)
  --modules "LIST"   extra kernel modules to load in the guest, e.g. "veth"
  --out DIR          directory for logs and results (default: a new
                     /tmp/zombietrace-vmtest.XXXXXX)
  --cache DIR        cache for kernels and initramfs images (default:
                     \$VMTEST_CACHE_DIR, else \$XDG_CACHE_HOME/zombietrace-vmtest,
                     else vmtest/.cache; now: $cache_dir)
  --refresh          download the newest kernel of each series again
  --prepare          only download the kernels and build the initramfs images
  -h, --help         print this help

Set VMTEST_APT_MIRROR to a Debian archive URL to override the one found in
/etc/apt/sources.list*.
EOF
}

die() {
	echo "vmtest: error: $*" >&2
	exit 2
}

info() {
	echo "vmtest: $*" >&2
}

# ---------------------------------------------------------------------------
# Command line

names=()    # test name, unique per run
commands=() # shell-quoted guest command line
binaries=() # host path of each binary
arguments=()

parse_arguments() {
	local -a current=()
	local after_separator=0

	while (($# > 0)); do
		if ((after_separator)); then
			if [[ $1 == -- ]]; then
				add_command "${current[@]}"
				current=()
			else
				current+=("$1")
			fi
			shift
			continue
		fi
		case $1 in
		--kernels) kernels=${2:?--kernels needs a list}; shift 2 ;;
		--timeout) boot_timeout=${2:?--timeout needs seconds}; shift 2 ;;
		--jobs) parallel_jobs=${2:?--jobs needs a number}; shift 2 ;;
		--memory) memory_mib=${2:?--memory needs MiB}; shift 2 ;;
		--cpus) cpus=${2:?--cpus needs a number}; shift 2 ;;
		--no-hostroot) export_hostroot=0; shift ;;
		--bzimage) boot_bzimage=1; shift ;;
		--modules) extra_modules=${2?--modules needs a list}; shift 2 ;;
		--out) out_dir=${2:?--out needs a directory}; shift 2 ;;
		--cache) cache_dir=${2:?--cache needs a directory}; shift 2 ;;
		--refresh) refresh=1; shift ;;
		--prepare) prepare_only=1; shift ;;
		-h | --help) usage; exit 0 ;;
		--) after_separator=1; shift ;;
		-*) die "unknown option $1 (see --help)" ;;
		*) add_command "$1"; shift ;;
		esac
	done
	if ((${#current[@]} > 0)); then
		add_command "${current[@]}"
	fi

	local number
	for number in "$boot_timeout" "$parallel_jobs" "$memory_mib" "$cpus"; do
		[[ $number =~ ^[1-9][0-9]*$ ]] || die "invalid number $number: expected a positive integer"
	done
	[[ -n ${kernels// /} ]] || die "--kernels is empty"
	if ((${#names[@]} == 0 && !prepare_only)); then
		usage >&2
		die "no test binary given"
	fi
}

# add_command BINARY [ARGS...] records one test binary and its arguments.
add_command() {
	(($# > 0)) || die "empty command after --"
	local binary=$1
	[[ -f $binary && -x $binary ]] || die "test binary $binary not found or not executable"

	local name base index=1
	base=$(basename "$binary")
	name=$base
	while contains_name "$name"; do
		index=$((index + 1))
		name=$base.$index
	done
	names+=("$name")
	binaries+=("$(realpath "$binary")")
	shift
	arguments+=("$(shell_quote "$@")")
}

contains_name() {
	local existing
	for existing in "${names[@]}"; do
		[[ $existing == "$1" ]] && return 0
	done
	return 1
}

# shell_quote ARGS... prints the arguments single-quoted for the guest's
# busybox sh.
shell_quote() {
	local arg quoted=()
	for arg in "$@"; do
		quoted+=("'${arg//\'/\'\\\'\'}'")
	done
	echo "${quoted[*]}"
}

# ---------------------------------------------------------------------------
# Host packages

ensure_host_packages() {
	local -A package_of=(
		[qemu-system-x86_64]=qemu-system-x86
		[cpio]=cpio
		[xz]=xz-utils
		[zstd]=zstd
		[flock]=util-linux
		[timeout]=coreutils
		[dpkg-deb]=dpkg
		[apt-get]=apt
	)
	local command missing=()
	for command in "${!package_of[@]}"; do
		command -v "$command" >/dev/null || missing+=("${package_of[$command]}")
	done
	((${#missing[@]} == 0)) && return 0

	info "installing missing host packages: ${missing[*]}"
	((EUID == 0)) || die "missing packages ${missing[*]}: run as root or install them with apt-get"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------------------
# Private apt configuration: it reads only the suites in APT_SUITES and never
# installs anything on the host.

apt_dir() { echo "$cache_dir/apt"; }

# find_mirror prints the Debian archive URL that this machine's apt uses.
find_mirror() {
	if [[ -n ${VMTEST_APT_MIRROR:-} ]]; then
		echo "${VMTEST_APT_MIRROR%/}"
		return
	fi
	local uri
	for uri in $(
		{
			sed -n 's/^[[:space:]]*URIs:[[:space:]]*//p' /etc/apt/sources.list.d/*.sources 2>/dev/null
			sed -n 's/^[[:space:]]*deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]\+\).*/\2/p' \
				/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null
		} | tr ' ' '\n'
	); do
		# Accept the archive root "…/debian" or a snapshot of it
		# "…/archive/debian/TIMESTAMP", and skip debian-security and others.
		if [[ $uri =~ /debian/?$ || $uri =~ /archive/debian/[0-9TZ]+/?$ ]]; then
			echo "${uri%/}"
			return
		fi
	done
	die "no Debian archive URL found in /etc/apt/sources.list*: set VMTEST_APT_MIRROR"
}

apt_options() {
	local dir
	dir=$(apt_dir)
	printf '%s\n' \
		-o "Dir::Etc::sourcelist=$dir/sources.list" \
		-o "Dir::Etc::sourceparts=$dir/empty" \
		-o "Dir::Etc::preferences=$dir/empty/preferences" \
		-o "Dir::Etc::preferencesparts=$dir/empty" \
		-o "Dir::State=$dir/state" \
		-o "Dir::State::Lists=$dir/lists" \
		-o "Dir::State::status=$dir/status" \
		-o "Dir::Cache=$dir/cache" \
		-o "APT::Architecture=amd64" \
		-o "APT::Architectures=amd64" \
		-o "APT::Sandbox::User=root" \
		-o "Acquire::Languages=none"
}

apt_lists_updated=0

update_apt_lists() {
	((apt_lists_updated)) && return 0
	local dir mirror suite
	dir=$(apt_dir)
	mirror=$(find_mirror)
	mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/state" "$dir/empty"
	: >"$dir/status"
	for suite in "${APT_SUITES[@]}"; do
		echo "deb [signed-by=$APT_KEYRING] $mirror $suite main"
	done >"$dir/sources.list"
	info "updating the private apt lists for ${APT_SUITES[*]}"
	local -a options
	mapfile -t options < <(apt_options)
	apt-get "${options[@]}" -qq update >/dev/null
	apt_lists_updated=1
}

# apt_download PACKAGE=VERSION DIR downloads one .deb into DIR and prints its
# path.
apt_download() {
	local spec=$1 dir=$2
	local -a options
	mapfile -t options < <(apt_options)
	mkdir -p "$dir"
	(cd "$dir" && apt-get "${options[@]}" -qq download "$spec" >/dev/null)
	local name=${spec%%=*} version=${spec#*=}
	# apt names the file NAME_VERSION_ARCH.deb with ":" in VERSION as "%3a".
	local file=$dir/${name}_${version//:/%3a}_amd64.deb
	[[ -f $file ]] || die "apt-get download $spec wrote no $file"
	echo "$file"
}

# resolve_kernel SERIES prints "PACKAGE=VERSION" of the newest linux-image
# package whose linux-image-amd64 version starts with SERIES.
resolve_kernel() {
	local series=$1
	local -a options
	mapfile -t options < <(apt_options)
	local resolved
	resolved=$(
		apt-cache "${options[@]}" show linux-image-amd64 |
			awk -v prefix="$series." '
				/^Version: / { version = $2 }
				/^Depends: / {
					if (index(version, prefix) == 1) {
						split($2, words, " ")
						print version, words[1]
					}
				}' |
			sort -V | tail -n 1
	)
	[[ -n $resolved ]] || die "no linux-image-amd64 for kernel series $series in ${APT_SUITES[*]}"
	local version=${resolved%% *} package=${resolved#* }
	package=${package%%,*}
	# The dependency pins the same version as the metapackage.
	echo "$package=$version"
}

# ---------------------------------------------------------------------------
# Kernel and initramfs cache

# prepare_busybox extracts busybox-static once into the cache.
prepare_busybox() {
	local dir=$cache_dir/busybox
	[[ -x $dir/busybox ]] && ((!refresh)) && return 0
	update_apt_lists
	local -a options
	mapfile -t options < <(apt_options)
	local version
	version=$(apt-cache "${options[@]}" policy busybox-static | awk '/Candidate:/ { print $2 }')
	[[ -n $version && $version != "(none)" ]] || die "busybox-static not found in ${APT_SUITES[*]}"
	local deb
	deb=$(apt_download "busybox-static=$version" "$cache_dir/debs")
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp/root"
	dpkg-deb -x "$deb" "$dir.tmp/root"
	cp "$dir.tmp/root/bin/busybox" "$dir.tmp/busybox"
	echo "busybox-static=$version" >"$dir.tmp/package"
	rm -rf "$dir.tmp/root" "$dir"
	mv "$dir.tmp" "$dir"
}

# prepare_kernel SERIES downloads the kernel package once and keeps its .deb,
# the compressed kernel image (bzImage) and its release name.
prepare_kernel() {
	local series=$1
	local dir=$cache_dir/kernels/$series
	if [[ -f $dir/ready ]] && ((!refresh)); then
		# Caches filled before run.sh extracted vmlinux lack it.
		if [[ ! -f $dir/vmlinux && ! -f $dir/vmlinux.none ]] &&
			! extract_vmlinux "$dir/vmlinuz" "$dir/vmlinux"; then
			rm -f "$dir/vmlinux"
			touch "$dir/vmlinux.none"
		fi
		return 0
	fi

	update_apt_lists
	local spec deb
	spec=$(resolve_kernel "$series")
	info "downloading $spec"
	deb=$(apt_download "$spec" "$cache_dir/debs")

	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp/root"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp/root" --wildcards './boot/*'
	local image
	image=$(find "$dir.tmp/root/boot" -name 'vmlinuz-*' | head -n 1)
	[[ -n $image ]] || die "$deb has no /boot/vmlinuz-*"
	cp "$image" "$dir.tmp/vmlinuz"
	if ! extract_vmlinux "$dir.tmp/vmlinuz" "$dir.tmp/vmlinux"; then
		info "warning: no ELF vmlinux found in $image, the $series guest boots the slower bzImage"
		rm -f "$dir.tmp/vmlinux"
		touch "$dir.tmp/vmlinux.none"
	fi
	cp "$dir.tmp/root/boot"/config-* "$dir.tmp/config"
	echo "${image##*/vmlinuz-}" >"$dir.tmp/release"
	echo "$spec" >"$dir.tmp/package"
	echo "$deb" >"$dir.tmp/deb"
	rm -rf "$dir.tmp/root"
	touch "$dir.tmp/ready"
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
}

# extract_vmlinux BZIMAGE TARGET writes the uncompressed ELF kernel. It
# decompresses from each offset that carries a compression magic until the
# result is an ELF file. QEMU boots that
# ELF through its PVH entry point (Debian sets CONFIG_PVH=y), which skips the
# decompression that takes the guest about 4 s under TCG.
extract_vmlinux() {
	local image=$1 target=$2
	local format magic command offset
	for format in 'xz \xfd7zXZ\x00' 'zstd \x28\xb5\x2f\xfd' 'gzip \x1f\x8b\x08'; do
		command=${format%% *}
		magic=${format#* }
		for offset in $(LC_ALL=C grep -obUaP "$magic" "$image" | cut -d: -f1 | head -n 5); do
			case $command in
			xz) tail -c "+$((offset + 1))" "$image" | xz -dcq --single-stream >"$target" 2>/dev/null || true ;;
			zstd) tail -c "+$((offset + 1))" "$image" | zstd -dcq >"$target" 2>/dev/null || true ;;
			gzip) tail -c "+$((offset + 1))" "$image" | gzip -dcq >"$target" 2>/dev/null || true ;;
			esac
			if [[ $(head -c 4 "$target" | od -An -tx1 | tr -d ' ') == 7f454c46 ]]; then
				return 0
			fi
		done
	done
	return 1
}

# decompress_module SOURCE TARGET writes the uncompressed module, so that the
# guest's busybox insmod needs no decompression support.
decompress_module() {
	case $1 in
	*.ko.xz) xz -dc "$1" >"$2" ;;
	*.ko.zst) zstd -qdc "$1" >"$2" ;;
	*.ko.gz) gzip -dc "$1" >"$2" ;;
	*.ko) cp "$1" "$2" ;;
	*) die "unknown module file type: $1" ;;
	esac
}

# build_initramfs SERIES builds an uncompressed cpio with busybox, init.sh
# and the modules, unless the cached one was built from the same inputs.
build_initramfs() {
	local series=$1
	local dir=$cache_dir/kernels/$series
	local modules=("${BASE_MODULES[@]}")
	# shellcheck disable=SC2206 # the module list is split on spaces
	modules+=($extra_modules)

	local stamp
	stamp=$(
		{
			sha256sum "$VMTEST_DIR/init.sh" "$cache_dir/busybox/busybox" | cut -d' ' -f1
			cat "$dir/package"
			echo "${modules[*]}"
		} | sha256sum | cut -d' ' -f1
	)
	if [[ -f $dir/initramfs.cpio && $(cat "$dir/initramfs.stamp" 2>/dev/null) == "$stamp" ]]; then
		return 0
	fi

	info "building the initramfs for $series"
	local stage=$dir/initramfs.tmp
	local release
	release=$(cat "$dir/release")
	rm -rf "$stage"
	mkdir -p "$stage/root" "$stage/image/bin" "$stage/image/lib/modules" \
		"$stage/image/dev" "$stage/image/proc" "$stage/image/sys" "$stage/image/tmp"
	dpkg-deb --fsys-tarfile "$(cat "$dir/deb")" |
		tar -x -C "$stage/root" --wildcards "./lib/modules/$release/*"
	local tree=$stage/root/lib/modules/$release

	local -A module_path=()
	local file name
	while IFS= read -r file; do
		name=${file##*/}
		name=${name%%.ko*}
		module_path[${name//-/_}]=$file
	done < <(find "$tree/kernel" -name '*.ko*')

	local -A visited=()
	: >"$stage/image/modules.load"
	add_module() {
		local name=${1//-/_}
		[[ -n ${visited[$name]:-} ]] && return 0
		visited[$name]=1
		local path=${module_path[$name]:-}
		if [[ -z $path ]]; then
			if sed 's#.*/##; s/\.ko$//; s/-/_/g' "$tree/modules.builtin" | grep -qx "$name"; then
				return 0
			fi
			die "module $name is neither a file nor built into kernel $release"
		fi
		local target=$stage/image/lib/modules/$name.ko
		decompress_module "$path" "$target"
		local depends dependency
		depends=$(tr '\0' '\n' <"$target" | sed -n 's/^depends=//p' | head -n 1)
		for dependency in ${depends//,/ }; do
			add_module "$dependency"
		done
		echo "$name.ko" >>"$stage/image/modules.load"
	}
	for name in "${modules[@]}"; do
		add_module "$name"
	done

	cp "$cache_dir/busybox/busybox" "$stage/image/bin/busybox"
	cp "$VMTEST_DIR/init.sh" "$stage/image/init"
	chmod 0755 "$stage/image/init" "$stage/image/bin/busybox"
	(cd "$stage/image" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) >"$dir/initramfs.cpio.tmp"
	mv "$dir/initramfs.cpio.tmp" "$dir/initramfs.cpio"
	echo "$stamp" >"$dir/initramfs.stamp"
	info "modules for $series: $(tr '\n' ' ' <"$stage/image/modules.load")"
	rm -rf "$stage"
}

prepare_all() {
	mkdir -p "$cache_dir"
	# One lock per cache, so that concurrent runs do not fill it twice.
	exec {lock_fd}>"$cache_dir/.lock"
	flock "$lock_fd"
	prepare_busybox
	local series
	for series in $kernels; do
		prepare_kernel "$series"
		build_initramfs "$series"
	done
	flock -u "$lock_fd"
}

# ---------------------------------------------------------------------------
# Runs

# write_job writes bin/ and job.sh into the run directory.
write_job() {
	mkdir -p "$out_dir/bin" "$out_dir/out"
	local i dir
	{
		echo "# Written by vmtest/run.sh: one run_test call per test binary."
		if ((export_hostroot)); then
			# The guest sees the host's /, so tests find the same tools,
			# including the go command and its module cache (read-only,
			# with GOPROXY=off in the guest).
			echo "test_path=$(shell_quote "$PATH")"
			if command -v go >/dev/null; then
				echo "test_gomodcache=$(shell_quote "$(go env GOMODCACHE)")"
			fi
		fi
		for i in "${!names[@]}"; do
			cp "${binaries[$i]}" "$out_dir/bin/${names[$i]}"
			# build-tests.sh writes BINARY.dir with the package's source
			# directory, so that tests find their testdata/ through the
			# host root.
			dir=/tmp
			if ((export_hostroot)) && [[ -f ${binaries[$i]}.dir ]]; then
				dir=$(cat "${binaries[$i]}.dir")
			fi
			# The guest mounts its own tmpfs on /tmp, which hides a
			# checkout under the host's /tmp; such tests run in /tmp.
			case $dir in
			/tmp | /tmp/*)
				dir=/tmp
				;;
			esac
			echo "run_test $(shell_quote "${names[$i]}" "$dir" "/tmp/vmtest/bin/${names[$i]}") ${arguments[$i]}"
		done
	} >"$out_dir/job.sh"
}

warn_dynamic_binaries() {
	local binary
	for binary in "${binaries[@]}"; do
		if ldd "$binary" >/dev/null 2>&1; then
			if ((export_hostroot)); then
				info "warning: $binary is dynamically linked and runs only with the host's libraries"
			else
				die "$binary is dynamically linked, which fails with --no-hostroot: build it with CGO_ENABLED=0"
			fi
		fi
	done
}

# run_vm SERIES boots one kernel and writes status-SERIES with the QEMU exit
# code and the wall time in seconds.
run_vm() {
	local series=$1
	local dir=$cache_dir/kernels/$series
	local append="console=ttyS0 panic=-1 quiet loglevel=4"
	local -a shares=(
		-virtfs "local,path=$out_dir,mount_tag=vmtest,security_model=none,multidevs=remap"
	)
	if ((export_hostroot)); then
		append+=" vmtest_hostroot=1"
		shares+=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
	fi

	local kernel_image=$dir/vmlinuz
	if ((!boot_bzimage)) && [[ -f $dir/vmlinux ]]; then
		kernel_image=$dir/vmlinux
	fi

	local start end status=0
	start=$(date +%s.%N)
	timeout --kill-after=10 "$boot_timeout" \
		qemu-system-x86_64 \
		-accel tcg -cpu max -smp "$cpus" -m "$memory_mib" \
		-nodefaults -no-user-config -display none -no-reboot \
		-kernel "$kernel_image" -initrd "$dir/initramfs.cpio" -append "$append" \
		-serial "file:$out_dir/console-$series.log" -monitor none \
		"${shares[@]}" \
		</dev/null >"$out_dir/qemu-$series.log" 2>&1 || status=$?
	end=$(date +%s.%N)
	local seconds
	seconds=$(awk -v start="$start" -v end="$end" 'BEGIN { printf "%.1f", end - start }')
	echo "$status $seconds" >"$out_dir/status-$series"
	info "kernel $series finished in ${seconds}s (qemu exit $status)"
}

# report_vm SERIES prints one line per test binary and returns 1 if any of
# them did not pass.
report_vm() {
	local series=$1
	local dir=$cache_dir/kernels/$series
	local release status seconds
	release=$(cat "$dir/release")
	read -r status seconds <"$out_dir/status-$series"
	local results=$out_dir/out/$release/results
	local failed=0

	local boot_note=""
	if ((status == 124 || status == 137)); then
		boot_note="boot timed out after ${boot_timeout}s"
		failed=1
	elif ((status != 0)); then
		boot_note="qemu exited with $status, see $out_dir/qemu-$series.log"
		failed=1
	fi
	if grep -qE 'Kernel panic|BUG:|Oops' "$out_dir/console-$series.log" 2>/dev/null; then
		boot_note+="${boot_note:+, }kernel log has a panic or BUG"
		failed=1
	fi
	printf 'BOOT  %-5s %-26s %6ss%s\n' "$series" "$release" "$seconds" "${boot_note:+  $boot_note}"

	local name line rc test_seconds verdict
	for name in "${names[@]}"; do
		line=$(awk -v name="$name" '$1 == name { print $2, $3 }' "$results" 2>/dev/null | tail -n 1)
		if [[ -z $line ]]; then
			verdict=FAIL
			rc="no result"
			if ((status == 124 || status == 137)); then
				rc="timed out or not started"
			fi
			test_seconds=-
			failed=1
		else
			read -r rc test_seconds <<<"$line"
			if [[ $rc == 0 ]]; then
				verdict=PASS
			else
				verdict=FAIL
				failed=1
			fi
			rc="exit $rc"
		fi
		printf '%s  %-5s %-26s %6ss  %s, log %s\n' "$verdict" "$series" "$name" "$test_seconds" "$rc" \
			"$out_dir/out/$release/$name.log"
	done
	return "$failed"
}

run_all() {
	local series running=0
	for series in $kernels; do
		if ((running >= parallel_jobs)); then
			wait -n || true
			running=$((running - 1))
		fi
		info "booting kernel $series ($(cat "$cache_dir/kernels/$series/package"))"
		run_vm "$series" &
		running=$((running + 1))
	done
	wait

	local failed=0
	for series in $kernels; do
		report_vm "$series" || failed=1
	done
	return "$failed"
}

main() {
	parse_arguments "$@"
	ensure_host_packages

	local start=$SECONDS
	prepare_all
	if ((prepare_only)); then
		info "cache ready in $cache_dir"
		return 0
	fi

	if [[ -z $out_dir ]]; then
		out_dir=$(mktemp -d /tmp/zombietrace-vmtest.XXXXXX)
	else
		mkdir -p "$out_dir"
		out_dir=$(realpath "$out_dir")
		rm -rf "$out_dir/bin" "$out_dir/out" "$out_dir"/status-* "$out_dir"/console-* "$out_dir"/qemu-*
	fi
	warn_dynamic_binaries
	write_job

	local status=0
	run_all || status=1
	info "total $((SECONDS - start))s, logs in $out_dir"
	if ((status)); then
		info "FAILED"
	fi
	return "$status"
}

main "$@"
