package probe_test

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"

	"github.com/zombietrace/zombietrace/internal/event"
	"github.com/zombietrace/zombietrace/internal/probe"
	"github.com/zombietrace/zombietrace/internal/tracetest"
)

// childEnv makes the test binary act as a child that exits with status 3
// once its standard input closes.
const childEnv = "ZOMBIETRACE_PROBE_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3)
	}
	os.Exit(m.Run())
}

// TestWaitBegunBeforeLoad blocks this process in wait4 for a child, loads
// the probe, lets the child exit, and checks the wait event. Kernels that
// let the programs read the registers at return report the arguments.
// Older ones report the reaped PID without the arguments.
func TestWaitBegunBeforeLoad(t *testing.T) {
	tracetest.RequireBPF(t)
	child, release := startChild(t)
	reaped := make(chan unix.WaitStatus, 1)
	go func() {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(child, &ws, 0, nil)
		reaped <- ws
	}()
	time.Sleep(tracetest.Scale(200 * time.Millisecond)) // let wait4 block

	p, err := probe.Load(probe.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	t.Logf("wait arguments read at return: %v", p.WaitArgsAtReturn())
	if major, minor := kernelVersion(t); (major > 5 || major == 5 && minor >= 15) && !p.WaitArgsAtReturn() {
		t.Errorf("Linux %d.%d has bpf_task_pt_regs, but the wait programs save arguments at entry", major, minor)
	}
	release()
	if ws := <-reaped; ws.ExitStatus() != 3 {
		t.Fatalf("child exit status = %d, want 3", ws.ExitStatus())
	}

	w := waitEvent(t, p, child)
	if w.ChildPID != int32(child) {
		t.Errorf("child_pid = %d, want %d", w.ChildPID, child)
	}
	if !p.WaitArgsAtReturn() {
		if !w.ArgsUnknown {
			t.Error("arguments of a call that began before Load were reported as known")
		}
		return
	}
	if w.ArgsUnknown || w.ID != int64(child) || w.Options != 0 || w.Syscall != event.SyscallWait4 {
		t.Errorf("wait = %+v, want wait4 with id %d, options 0, arguments known", *w, child)
	}
	if w.ChildCode != 3<<8 {
		t.Errorf("status word = %#x, want %#x", w.ChildCode, 3<<8)
	}
}

// startChild starts the test binary as a child of this process and returns
// its PID and a function that makes it exit.
func startChild(t *testing.T) (int, func()) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	proc, err := os.StartProcess(self, []string{self}, &os.ProcAttr{
		Env:   append(os.Environ(), childEnv+"=1"),
		Files: []*os.File{r, os.Stderr, os.Stderr},
	})
	if err != nil {
		w.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		w.Close()
		_ = proc.Release()
	})
	return proc.Pid, func() { w.Close() }
}

// waitEvent polls p for the wait event of this process whose call
// returned child.
func waitEvent(t *testing.T, p *probe.Probe, child int) *event.Wait {
	var rec ringbuf.Record
	var found *event.Wait
	deadline := time.Now().Add(tracetest.Scale(5 * time.Second))
	for found == nil && time.Now().Before(deadline) {
		_, err := p.Poll(&rec, time.Time{}, func(ev event.Event) {
			if w, ok := ev.(*event.Wait); ok && w.Proc.PID == uint32(os.Getpid()) && w.Return == int64(child) {
				c := *w
				found = &c
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if found == nil {
		t.Fatalf("no wait event returned child %d", child)
	}
	return found
}

func kernelVersion(t *testing.T) (int, int) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	fields := strings.FieldsFunc(unix.ByteSliceToString(u.Release[:]), func(r rune) bool {
		return r < '0' || r > '9'
	})
	if len(fields) < 2 {
		t.Fatalf("cannot parse kernel release %q", u.Release)
	}
	major, _ := strconv.Atoi(fields[0])
	minor, _ := strconv.Atoi(fields[1])
	return major, minor
}
