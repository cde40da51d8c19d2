#!/usr/bin/env bash
# Build static Go test binaries for vmtest/run.sh and print their paths.
set -euo pipefail

VMTEST_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out_dir=$VMTEST_DIR/.build
tags=""

usage() {
	cat <<EOF
Usage: $0 [-o DIR] [--tags TAGS] PACKAGE...

Builds one static test binary per Go package that has tests, with
CGO_ENABLED=0 go test -c, as DIR/NAME.test, where NAME is the last element of
the import path (or the whole path relative to the module, with "/" replaced
by "_", if two packages share the last element). Packages without test files
are skipped. PACKAGE takes any go list pattern, such as ./internal/... .

Next to each binary, DIR/NAME.test.dir contains the package's source
directory, which run.sh uses as the working directory in the guest.
Prints the binary paths, one per line, for: run.sh \$($0 ./...)

Options:
  -o DIR        output directory (default: vmtest/.build)
  --tags TAGS   build tags, passed to go test -tags
  -h, --help    print this help
EOF
}

die() {
	echo "build-tests: error: $*" >&2
	exit 2
}

packages=()
while (($# > 0)); do
	case $1 in
	-o) out_dir=${2:?-o needs a directory}; shift 2 ;;
	--tags) tags=${2:?--tags needs a list}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) packages+=("$1"); shift ;;
	esac
done
((${#packages[@]} > 0)) || { usage >&2; die "no package given"; }

command -v go >/dev/null || die "go not found in PATH"
mkdir -p "$out_dir"
out_dir=$(realpath "$out_dir")

module=$(go list -m)
listed=$(go list -tags "$tags" \
	-f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}} {{.Dir}}{{end}}' \
	"${packages[@]}")
if [[ -z $listed ]]; then
	die "no package with test files in: ${packages[*]}"
fi

declare -A base_count=()
while read -r import_path _; do
	base=${import_path##*/}
	base_count[$base]=$((${base_count[$base]:-0} + 1))
done <<<"$listed"

while read -r import_path dir; do
	name=${import_path##*/}
	if ((${base_count[$name]} > 1)); then
		relative=${import_path#"$module"/}
		name=${relative//\//_}
	fi
	binary=$out_dir/$name.test
	echo "build-tests: building $binary" >&2
	CGO_ENABLED=0 go test -c -tags "$tags" -o "$binary" "$import_path"
	echo "$dir" >"$binary.dir"
	echo "$binary"
done <<<"$listed"
