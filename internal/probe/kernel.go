package probe

import (
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// Sentinel errors for what the kernel or the caller's privileges lack.
var (
	ErrNoBTF        = errors.New("kernel has no BTF at /sys/kernel/btf/vmlinux (needs CONFIG_DEBUG_INFO_BTF=y, Linux 5.8 or newer)")
	ErrNoRingBuffer = errors.New("kernel has no BPF ring buffer (needs Linux 5.8 or newer)")
	ErrNoTracefs    = errors.New("tracefs is not mounted and could not be mounted at /sys/kernel/tracing")
	ErrPermission   = errors.New("not permitted to load BPF programs")
)

// CheckKernel returns ErrNoBTF or ErrNoRingBuffer when the running kernel
// lacks what the programs need.
func CheckKernel() error {
	if _, err := btf.LoadKernelSpec(); err != nil {
		return fmt.Errorf("%w: %w", ErrNoBTF, err)
	}
	err := features.HaveMapType(ebpf.RingBuf)
	if errors.Is(err, ebpf.ErrNotSupported) {
		return ErrNoRingBuffer
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("probe ring buffer support: %w", ErrPermission)
	}
	if err != nil {
		return fmt.Errorf("probe ring buffer support: %w", err)
	}
	return nil
}

// haveTaskRegs reports whether tracepoint programs may call
// bpf_get_current_task_btf and bpf_task_pt_regs (Linux 5.15), which let
// the wait programs read a call's arguments when it returns.
func haveTaskRegs() bool {
	for _, fn := range []asm.BuiltinFunc{asm.FnGetCurrentTaskBtf, asm.FnTaskPtRegs} {
		if features.HaveProgramHelper(ebpf.TracePoint, fn) != nil {
			return false
		}
	}
	return true
}

// Capabilities that loading the programs needs.
const (
	capSysAdmin    = 21
	capSysResource = 24
	capPerfmon     = 38
	capBPF         = 39
)

// MissingCapabilities returns the names of the capabilities the calling
// process lacks to load and attach the programs: CAP_BPF and CAP_PERFMON,
// or CAP_SYS_ADMIN, which covers both.
func MissingCapabilities() ([]string, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return nil, fmt.Errorf("read capabilities: %w", err)
	}
	has := func(c uint) bool { return data[c/32].Effective&(1<<(c%32)) != 0 }
	if has(capSysAdmin) {
		return nil, nil
	}
	var missing []string
	if !has(capBPF) {
		missing = append(missing, "CAP_BPF")
	}
	if !has(capPerfmon) {
		missing = append(missing, "CAP_PERFMON")
	}
	return missing, nil
}

// HasSysResource reports whether the process may raise its memlock limit,
// which kernels before 5.11 charge BPF maps against.
func HasSysResource() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[0].Effective&(1<<capSysResource) != 0
}

type tracefsMount struct{ path string }

var tracefsPaths = []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}

// ensureTracefs mounts tracefs when no mount is found, because the syscall
// tracepoints are attached by ID, which only tracefs gives. It returns the
// mount to undo, or nil when tracefs was already there.
func ensureTracefs() (*tracefsMount, error) {
	for _, p := range tracefsPaths {
		if _, err := os.Stat(p + "/events"); err == nil {
			return nil, nil
		}
	}
	const path = "/sys/kernel/tracing"
	if err := unix.Mount("tracefs", path, "tracefs", 0, ""); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoTracefs, err)
	}
	return &tracefsMount{path: path}, nil
}

func (m *tracefsMount) unmount() error {
	if err := unix.Unmount(m.path, 0); err != nil {
		return fmt.Errorf("unmount tracefs at %s: %w", m.path, err)
	}
	return nil
}
