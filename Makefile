# Build, test and regenerate zombietrace. Run `make help` for the targets.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO ?= go
BIN := bin/zombietrace
LDFLAGS := -s -w -X github.com/zombietrace/zombietrace/internal/cli.Version=$(VERSION)

VMTEST_KERNELS ?= 5.10 6.1 6.12
VMTEST_PACKAGES ?= ./vmtest/selftest ./internal/probe ./internal/tracetest
# The overflow test runs a process storm, which emulation makes too slow.
VMTEST_ARGS ?= -test.v -test.skip TestOverflowResync
# One CPU per guest and one guest at a time: under TCG, a second guest CPU
# met a kernel oops (int3 in syscall_trace_enter) while a tracepoint was
# being enabled, a code-patching race of the emulator, and two guests on
# a 2-core machine ran past the boot timeout.
VMTEST_FLAGS ?= --cpus 1 --jobs 1 --timeout 900

.PHONY: help build build-arm64 generate check-generated test test-arm64 vet format vmtest clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build a static binary into bin/zombietrace
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/zombietrace

build-arm64: ## build the arm64 binary, with its BPF objects, into bin/zombietrace-arm64
	CGO_ENABLED=0 GOARCH=arm64 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)-arm64 ./cmd/zombietrace

generate: ## rebuild the BPF objects and their Go bindings with clang (bpf2go)
	$(GO) generate ./internal/probe/

check-generated: generate ## fail if the committed BPF objects differ from a fresh build
	git diff --exit-code -- internal/probe/

test: ## run every test; BPF tests need root and fail instead of skipping in CI
	$(GO) test -count=1 ./...

# The arm64 register code of the reaper runs under qemu-user, as an
# unprivileged user because qemu-user does not pass prctl through.
test-arm64: ## run the reaper's arm64 register tests under qemu-aarch64-static
	CGO_ENABLED=0 GOARCH=arm64 $(GO) test -c -o bin/reaper-arm64.test ./internal/reaper
	chmod 755 bin bin/reaper-arm64.test
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		qemu-aarch64-static bin/reaper-arm64.test -test.run ARM64 -test.v

vet: ## run go vet and check formatting
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "run make format"; exit 1; }

format: ## format the Go code
	gofmt -w .

vmtest: ## run the BPF tests on other kernels under QEMU (VMTEST_KERNELS, VMTEST_PACKAGES)
	bins=$$(vmtest/build-tests.sh -o vmtest/.build $(VMTEST_PACKAGES)) && \
		args=$$(for b in $$bins; do printf -- '-- %s $(VMTEST_ARGS) ' "$$b"; done) && \
		vmtest/run.sh $(VMTEST_FLAGS) --kernels "$(VMTEST_KERNELS)" $$args

clean: ## remove build output
	rm -rf bin
