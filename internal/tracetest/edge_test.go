package tracetest_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/procfs"
	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/scenario"
	"github.com/zombietrace/zombietrace/internal/tracetest"
)

// TestNestedNamespacesThreeDeep runs a shell as PID 1 of a PID namespace
// nested three deep. It forks a subshell that exits, then execs sleep,
// which never waits, so the subshell stays a zombie under a namespace init.
func TestNestedNamespacesThreeDeep(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(minAge))
	nest := []string{"--pid", "--fork", "--kill-child"}
	args := append(append(append(append([]string{}, nest...), "unshare"), nest...), "unshare")
	args = append(append(args, nest...), "sh", "-c", "(exit 5) & exec sleep 60")
	cmd := exec.Command("unshare", args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unshare: %v", err)
	}
	t.Cleanup(func() { killNamespace(t, cmd) })

	r := s.WaitRecord(t, func(r report.Record) bool {
		return r.Type == report.TypeLingering && r.Exit != nil && r.Exit.Code != nil &&
			*r.Exit.Code == 5 && r.Zombie.NSPID == 2 && r.Parent != nil && r.Parent.NSPID == 1
	}, recordWithin+2*time.Second)
	if !r.Parent.NSInit || r.Parent.NSPID != 1 {
		t.Errorf("parent ns_init = %v, ns_pid = %d; want the namespace init", r.Parent.NSInit, r.Parent.NSPID)
	}
	status, err := procfs.ReadStatus("/proc", int(r.Zombie.PID))
	if err != nil {
		t.Fatalf("read zombie status: %v", err)
	}
	if len(status.NSpid) != 4 {
		t.Errorf("zombie NSpid = %v, want four levels", status.NSpid)
	}
	if len(status.NSpid) > 0 && uint32(status.NSpid[len(status.NSpid)-1]) != r.Zombie.NSPID {
		t.Errorf("record ns_pid = %d, /proc says %v", r.Zombie.NSPID, status.NSpid)
	}
}

// TestFoundAtStartInNamespace starts the tracer after a zombie already
// lingers under the init of a PID namespace, and checks that the record
// gives both the same namespace, which the action engine needs to reap it.
func TestFoundAtStartInNamespace(t *testing.T) {
	cmd := exec.Command("unshare", "--pid", "--fork", "--kill-child", "sh", "-c", "(exit 6) & exec sleep 60")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unshare: %v", err)
	}
	t.Cleanup(func() { killNamespace(t, cmd) })
	time.Sleep(tracetest.Scale(300 * time.Millisecond)) // let the subshell exit

	s := tracetest.Start(t, tracetest.MinAge(minAge))
	r := s.WaitRecord(t, func(r report.Record) bool {
		return r.Type == report.TypeLingering && r.FoundAtStart && r.Zombie.NSPID == 2 &&
			r.Parent != nil && r.Parent.NSPID == 1 && r.Parent.Comm == "sleep"
	}, recordWithin+2*time.Second)
	if r.Zombie.PIDNamespace == 0 {
		t.Error("zombie pid_ns is unknown")
	}
	if r.Parent.PIDNamespace != r.Zombie.PIDNamespace {
		t.Errorf("parent pid_ns = %d, zombie pid_ns = %d; want the same", r.Parent.PIDNamespace, r.Zombie.PIDNamespace)
	}
}

// killNamespace kills the init of the PID namespace that an unshare command
// made, which kills everything inside, then waits for unshare. Killing
// unshare itself would orphan its child to the machine's init instead.
func killNamespace(t *testing.T, cmd *exec.Cmd) {
	pid := cmd.Process.Pid
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Errorf("find the namespace init under unshare %d: %v", pid, err)
	}
	for _, field := range strings.Fields(string(children)) {
		child, _ := strconv.Atoi(field)
		if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
			t.Errorf("kill namespace init %d: %v", child, err)
		}
	}
	_ = cmd.Wait()
}

// TestZombieInitUnderOuterParent makes the test process the parent of a
// PID namespace's init that exits and is never waited for: the zombie and
// its parent are in different PID namespaces.
func TestZombieInitUnderOuterParent(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(minAge))
	cmd := exec.Command("/bin/sh", "-c", "exit 4")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child in a new PID namespace: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Wait() })

	r := s.WaitRecord(t, lingeringFor(cmd.Process.Pid), recordWithin)
	if r.Zombie.NSPID != 1 {
		t.Errorf("zombie ns_pid = %d, want 1", r.Zombie.NSPID)
	}
	if r.Parent == nil || int(r.Parent.PID) != os.Getpid() {
		t.Fatalf("parent = %+v, want the test process %d", r.Parent, os.Getpid())
	}
	if r.Parent.PIDNamespace == r.Zombie.PIDNamespace {
		t.Errorf("parent and zombie share PID namespace %d, want different ones", r.Zombie.PIDNamespace)
	}
	if r.Exit == nil || r.Exit.Code == nil || *r.Exit.Code != 4 {
		t.Errorf("exit = %+v, want code 4", r.Exit)
	}
}

// TestLongAndInvalidCommandLine checks that a command line longer than the
// captured 512 bytes is marked truncated and that bytes that are not UTF-8
// still give valid JSON.
func TestLongAndInvalidCommandLine(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(minAge))
	long := strings.Repeat("x", 2000)
	run := scenario.Start(t, "nowait-exec", "--wait-go", "--", "\xff\xfe-not-utf8", long)
	run.Go()
	r := s.WaitRecord(t, lingeringFor(run.Zombies[0]), recordWithin)
	if !r.Zombie.CmdlineTruncated {
		t.Error("cmdline_truncated is not set for a 2000-byte argument")
	}
	line, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(line) {
		t.Errorf("record is not valid JSON: %q", line)
	}
	if !strings.Contains(string(line), "-not-utf8") {
		t.Errorf("record lost the argument with invalid bytes: %s", line)
	}
}
