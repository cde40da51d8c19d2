package cli_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/diagnose"
	"github.com/zombietrace/zombietrace/internal/procfs"
	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/tracetest"
)

// spawnPool starts Python's multiprocessing case as PID 1 of a new PID
// namespace: each pool run orphans its resource tracker, which the
// namespace init adopts and never reaps. It returns the host PID of the
// namespace init once the script prints "ready".
func spawnPool(t *testing.T) int {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	cmd := exec.Command("unshare", "--pid", "--fork", "--kill-child", python,
		"../action/testdata/spawnpool.py")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start python3 in a new PID namespace: %v", err)
	}
	t.Cleanup(func() { killNamespace(t, cmd) })
	ready := make(chan bool)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if s.Text() == "ready" {
				ready <- true
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatal("spawnpool.py did not print ready within 30s")
	}
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	init, err := strconv.Atoi(strings.TrimSpace(string(children)))
	if err != nil {
		t.Fatalf("namespace init under unshare: %q", children)
	}
	return init
}

// killNamespace kills the init of the PID namespace that an unshare command
// made, which kills everything inside, then waits for unshare. Killing
// unshare itself would orphan its child to the machine's init instead.
func killNamespace(t *testing.T, cmd *exec.Cmd) {
	pid := cmd.Process.Pid
	children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	for _, field := range strings.Fields(string(children)) {
		child, _ := strconv.Atoi(field)
		if err := syscall.Kill(child, syscall.SIGKILL); err != nil {
			t.Errorf("kill namespace init %d: %v", child, err)
		}
	}
	_ = cmd.Wait()
}

func resourceTrackerUnder(init int) func(report.Record) bool {
	return func(r report.Record) bool {
		return r.Type == report.TypeLingering && r.Parent != nil && int(r.Parent.PID) == init &&
			strings.Contains(strings.Join(r.Zombie.Cmdline, " "), "resource_tracker")
	}
}

func TestMultiprocessingCase(t *testing.T) {
	tracetest.RequireBPF(t)
	tr := startTracer(t, "--min-age", "1s")
	init := spawnPool(t)
	r := tr.waitRecord(t, resourceTrackerUnder(init), 10*time.Second)

	if !r.Parent.NSInit || r.Parent.NSPID != 1 {
		t.Errorf("parent ns_init = %v, ns_pid = %d; want PID 1 of its namespace", r.Parent.NSInit, r.Parent.NSPID)
	}
	if !strings.Contains(strings.Join(r.Parent.Cmdline, " "), "spawnpool.py") {
		t.Errorf("parent cmdline = %q, want the script", r.Parent.Cmdline)
	}
	if r.OriginalParent == nil || !strings.Contains(strings.Join(r.OriginalParent.Cmdline, " "), "pool") {
		t.Errorf("original_parent = %+v, want the pool run", r.OriginalParent)
	}
	if r.Diagnosis == nil || r.Diagnosis.Verdict != diagnose.NSInitWaitsOnlyOwn {
		t.Errorf("diagnosis = %+v, want verdict %s", r.Diagnosis, diagnose.NSInitWaitsOnlyOwn)
	}
	if r.Diagnosis != nil && !strings.Contains(r.Diagnosis.Fix, "tini") {
		t.Errorf("fix = %q, want it to suggest an init such as tini", r.Diagnosis.Fix)
	}
}

func TestMultiprocessingCaseReaped(t *testing.T) {
	tracetest.RequireBPF(t)
	tr := startTracer(t, "--min-age", "1s", "--action", "reap")
	init := spawnPool(t)
	r := tr.waitRecord(t, resourceTrackerUnder(init), 10*time.Second)
	// The reaped record comes first: the engine confirms its action from it.
	reaped := tr.waitRecord(t, func(a report.Record) bool {
		return a.Type == report.TypeReaped && a.Zombie.PID == r.Zombie.PID
	}, 15*time.Second)
	if !strings.Contains(reaped.ReapNote, "--action reap made its parent run") {
		t.Errorf("reap note = %q, want it to name zombietrace's injected waitid", reaped.ReapNote)
	}
	confirmed := tr.waitRecord(t, func(a report.Record) bool {
		return a.Type == report.TypeAction && a.Zombie.PID == r.Zombie.PID &&
			a.Action != nil && a.Action.Outcome == report.OutcomeConfirmed
	}, 15*time.Second)
	if confirmed.Action.Kind != "reap" {
		t.Errorf("action kind = %q, want reap", confirmed.Action.Kind)
	}
	if stat, err := procfs.ReadStat("/proc", int(r.Zombie.PID)); err == nil && stat.State == 'Z' &&
		stat.PPID == init {
		t.Errorf("zombie %d is still a child of %d", r.Zombie.PID, init)
	}
	stat, err := procfs.ReadStat("/proc", init)
	if err != nil || stat.State == 'Z' {
		t.Errorf("the namespace init %d did not keep running: state %c, err %v", init, stat.State, err)
	}
}
