# Build, test and regenerate zombietrace. Run `make help` for the targets.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO ?= go
BIN := bin/zombietrace
LDFLAGS := -s -w -X github.com/zombietrace/zombietrace/internal/cli.Version=$(VERSION)

VMTEST_KERNELS ?= 5.10 6.1 6.12
VMTEST_PACKAGES ?= ./vmtest/selftest ./internal/probe ./internal/tracetest
# The overflow test runs a process storm, which emulation makes too slow.
VMTEST_ARGS ?= -test.skip TestOverflowResync

.PHONY: help build generate check-generated test vet format vmtest clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

build: ## build a static binary into bin/zombietrace
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/zombietrace

generate: ## rebuild the BPF objects and their Go bindings with clang (bpf2go)
	$(GO) generate ./internal/probe/

check-generated: generate ## fail if the committed BPF objects differ from a fresh build
	git diff --exit-code -- internal/probe/

test: ## run every test; BPF tests need root and fail instead of skipping in CI
	$(GO) test -count=1 ./...

vet: ## run go vet and check formatting
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "run make format"; exit 1; }

format: ## format the Go code
	gofmt -w .

vmtest: ## run the BPF tests on other kernels under QEMU (VMTEST_KERNELS, VMTEST_PACKAGES)
	bins=$$(vmtest/build-tests.sh -o vmtest/.build $(VMTEST_PACKAGES)) && \
		args=$$(for b in $$bins; do printf -- '-- %s $(VMTEST_ARGS) ' "$$b"; done) && \
		vmtest/run.sh --kernels "$(VMTEST_KERNELS)" $$args

clean: ## remove build output
	rm -rf bin
