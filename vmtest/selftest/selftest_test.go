package selftest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// requireBPF reports whether ZOMBIETRACE_REQUIRE_BPF=1 is set. Then a missing
// BPF feature fails the test instead of skipping it.
func requireBPF() bool {
	return os.Getenv("ZOMBIETRACE_REQUIRE_BPF") == "1"
}

// failOrSkip fails the test under ZOMBIETRACE_REQUIRE_BPF=1 and skips it
// otherwise, for example when the test runs without root.
func failOrSkip(t *testing.T, format string, args ...any) {
	t.Helper()
	if requireBPF() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

func kernelRelease() string {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(uts.Release[:])
}

func TestKernelBTF(t *testing.T) {
	raw, err := os.ReadFile("/sys/kernel/btf/vmlinux")
	if err != nil {
		failOrSkip(t, "read kernel BTF: %v", err)
	}
	// The BTF header starts with the magic 0xeB9F in the machine's byte
	// order, which is little endian on x86-64.
	if !bytes.HasPrefix(raw, []byte{0x9f, 0xeb}) {
		t.Fatalf("/sys/kernel/btf/vmlinux starts with % x, expected the BTF magic 9f eb", raw[:min(len(raw), 4)])
	}

	spec, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatalf("parse kernel BTF: %v", err)
	}
	var task *btf.Struct
	if err := spec.TypeByName("task_struct", &task); err != nil {
		t.Fatalf("find task_struct in kernel BTF: %v", err)
	}
	found := false
	for _, member := range task.Members {
		if member.Name == "exit_state" {
			found = true
		}
	}
	if !found {
		t.Errorf("task_struct in kernel BTF has no exit_state member")
	}
}

// counterProgram returns instructions that add 1 to the uint64 at key 0 of
// the array map counter and return 0.
func counterProgram(counter *ebpf.Map) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.RFP, -4, 0, asm.Word),
		asm.LoadMapPtr(asm.R1, counter.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("exit"),
		asm.Return(),
	}
}

// hook is one BPF program type and the kernel hook that the test attaches it
// to. Each hook fires when a process exits or is reaped.
type hook struct {
	name string
	// required hooks fail the test when they do not work. The others are
	// only reported.
	required bool
	// requiredInGuest hooks are required only inside a vmtest guest, whose
	// kernels have them. A host may lack them: kprobes can be compiled
	// out, and fentry can be refused with EPERM, as on the 6.18 host where
	// this was written.
	requiredInGuest bool
	spec            ebpf.ProgramSpec
	attach          func(*ebpf.Program) (link.Link, error)
	attachedTo      string
}

func hooks() []hook {
	return []hook{
		{
			name:       "tp_btf",
			required:   true,
			attachedTo: "sched_process_exit",
			spec: ebpf.ProgramSpec{
				Type:       ebpf.Tracing,
				AttachType: ebpf.AttachTraceRawTp,
				AttachTo:   "sched_process_exit",
			},
			attach: func(p *ebpf.Program) (link.Link, error) {
				return link.AttachTracing(link.TracingOptions{Program: p})
			},
		},
		{
			name:       "raw_tp",
			required:   true,
			attachedTo: "sched_process_exit",
			spec:       ebpf.ProgramSpec{Type: ebpf.RawTracepoint},
			attach: func(p *ebpf.Program) (link.Link, error) {
				return link.AttachRawTracepoint(link.RawTracepointOptions{Name: "sched_process_exit", Program: p})
			},
		},
		{
			name:            "kprobe",
			requiredInGuest: true,
			attachedTo:      "do_exit",
			spec:            ebpf.ProgramSpec{Type: ebpf.Kprobe},
			attach: func(p *ebpf.Program) (link.Link, error) {
				return link.Kprobe("do_exit", p, nil)
			},
		},
		{
			name:            "fentry",
			requiredInGuest: true,
			attachedTo:      "do_exit",
			spec: ebpf.ProgramSpec{
				Type:       ebpf.Tracing,
				AttachType: ebpf.AttachTraceFEntry,
				AttachTo:   "do_exit",
			},
			attach: func(p *ebpf.Program) (link.Link, error) {
				return link.AttachTracing(link.TracingOptions{Program: p})
			},
		},
		{
			name:       "tracepoint",
			attachedTo: "sched/sched_process_exit",
			spec:       ebpf.ProgramSpec{Type: ebpf.TracePoint},
			attach: func(p *ebpf.Program) (link.Link, error) {
				return link.Tracepoint("sched", "sched_process_exit", p, nil)
			},
		},
		{
			name:       "fexit",
			attachedTo: "release_task",
			spec: ebpf.ProgramSpec{
				Type:       ebpf.Tracing,
				AttachType: ebpf.AttachTraceFExit,
				AttachTo:   "release_task",
			},
			attach: func(p *ebpf.Program) (link.Link, error) {
				return link.AttachTracing(link.TracingOptions{Program: p})
			},
		},
	}
}

// runChildProcess starts this test binary with no test selected and waits
// for it, so that do_exit, sched_process_exit and release_task run.
func runChildProcess(t *testing.T) {
	t.Helper()
	executable, err := os.Executable()
	if err != nil {
		t.Fatalf("find the test executable: %v", err)
	}
	if output, err := exec.Command(executable, "-test.run=^$").CombinedOutput(); err != nil {
		t.Fatalf("run child process %s: %v: %s", executable, err, output)
	}
}

// tryHook loads, attaches and triggers one program. It returns the number of
// times the program ran, or the step that failed.
func tryHook(t *testing.T, h hook) (uint64, error) {
	counter, err := ebpf.NewMap(&ebpf.MapSpec{
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  8,
		MaxEntries: 1,
	})
	if err != nil {
		return 0, fmt.Errorf("create counter map: %w", err)
	}
	defer counter.Close()

	spec := h.spec
	spec.Name = strings.ReplaceAll(h.name, "_", "")
	spec.License = "GPL"
	spec.Instructions = counterProgram(counter)
	program, err := ebpf.NewProgram(&spec)
	if err != nil {
		return 0, fmt.Errorf("load: %w", err)
	}
	defer program.Close()

	attached, err := h.attach(program)
	if err != nil {
		return 0, fmt.Errorf("attach to %s: %w", h.attachedTo, err)
	}
	defer attached.Close()

	runChildProcess(t)

	var count uint64
	if err := counter.Lookup(uint32(0), &count); err != nil {
		return 0, fmt.Errorf("read counter: %w", err)
	}
	if count == 0 {
		return 0, fmt.Errorf("attached to %s, but the program did not run when a child process exited", h.attachedTo)
	}
	return count, nil
}

// probe is a kernel feature that zombietrace may use, checked with the
// cilium/ebpf features package. The result is only reported.
type probe struct {
	name  string
	check func() error
}

func probes() []probe {
	return []probe{
		{"map ringbuf", func() error { return features.HaveMapType(ebpf.RingBuf) }},
		{"map task_storage", func() error { return features.HaveMapType(ebpf.TaskStorage) }},
		{"link kprobe_multi", features.HaveBPFLinkKprobeMulti},
		{"helper get_current_task_btf", func() error {
			return features.HaveProgramHelper(ebpf.Kprobe, asm.FnGetCurrentTaskBtf)
		}},
		{"helper loop", func() error { return features.HaveProgramHelper(ebpf.Kprobe, asm.FnLoop) }},
		{"bounded loops", features.HaveBoundedLoops},
	}
}

// inGuest reports whether the test runs inside a vmtest guest, whose init
// sets ZOMBIETRACE_VMTEST_KERNEL.
func inGuest() bool { return os.Getenv("ZOMBIETRACE_VMTEST_KERNEL") != "" }

func TestProgramTypes(t *testing.T) {
	if os.Geteuid() != 0 {
		failOrSkip(t, "loading BPF programs needs root, running as uid %d", os.Geteuid())
	}
	release := kernelRelease()
	var report []string

	for _, h := range hooks() {
		t.Run(h.name, func(t *testing.T) {
			count, err := tryHook(t, h)
			switch {
			case err == nil:
				report = append(report, fmt.Sprintf("FEATURE %s %-28s ok (ran %d times)", release, h.name, count))
			case h.required || (h.requiredInGuest && inGuest()):
				report = append(report, fmt.Sprintf("FEATURE %s %-28s FAILED (required): %v", release, h.name, err))
				failOrSkip(t, "%s on %s: %v", h.name, h.attachedTo, err)
			default:
				report = append(report, fmt.Sprintf("FEATURE %s %-28s failed: %v", release, h.name, err))
				t.Logf("%s on %s does not work on kernel %s: %v", h.name, h.attachedTo, release, err)
			}
		})
	}

	for _, p := range probes() {
		err := p.check()
		switch {
		case err == nil:
			report = append(report, fmt.Sprintf("FEATURE %s %-28s ok", release, p.name))
		case errors.Is(err, ebpf.ErrNotSupported):
			report = append(report, fmt.Sprintf("FEATURE %s %-28s unsupported", release, p.name))
		default:
			report = append(report, fmt.Sprintf("FEATURE %s %-28s probe failed: %v", release, p.name, err))
		}
	}

	// Printed to stdout so that the table is in the log without -test.v.
	fmt.Println(strings.Join(report, "\n"))
}
