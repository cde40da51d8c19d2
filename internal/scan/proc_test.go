package scan

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/diagnose"
	"github.com/zombietrace/zombietrace/internal/procfs"
	"github.com/zombietrace/zombietrace/internal/scenario"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root")
	}
}

func TestRunNowaitJSON(t *testing.T) {
	run := scenario.Start(t, "nowait", "--count", "3", "--exit-code", "7")
	records := scanJSON(t, "--pid", strconv.Itoa(run.Parent))
	if len(records) != 3 {
		t.Fatalf("got %d records, want 3", len(records))
	}
	for i, r := range records {
		if int(r.Zombie.PID) != run.Zombies[i] {
			t.Errorf("record %d: zombie %d, want %d", i, r.Zombie.PID, run.Zombies[i])
		}
		if r.Parent == nil || int(r.Parent.PID) != run.Parent || r.Parent.Comm != "zombiegen" {
			t.Errorf("zombie %d: parent %+v, want pid %d zombiegen", r.Zombie.PID, r.Parent, run.Parent)
		}
		if r.Type != "lingering" || !r.FoundAtStart || r.DiedAt != nil || r.Waits != nil {
			t.Errorf("zombie %d: type=%s found_at_start=%v died_at=%v waits=%v, want a /proc record",
				r.Zombie.PID, r.Type, r.FoundAtStart, r.DiedAt, r.Waits)
		}
		if r.Exit == nil || r.Exit.Code == nil || *r.Exit.Code != 7 {
			t.Errorf("zombie %d: exit %+v, want code 7", r.Zombie.PID, r.Exit)
		}
		if !r.Zombie.Exited || r.Zombie.StartTime.IsZero() {
			t.Errorf("zombie %d: exited=%v start=%v, want exited with a start time",
				r.Zombie.PID, r.Zombie.Exited, r.Zombie.StartTime)
		}
		entries, err := procfs.ReadCgroup("/proc", run.Zombies[i])
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := procfs.SelectCgroupPath(entries); r.Cgroup != want {
			t.Errorf("zombie %d: cgroup %q, want %q", r.Zombie.PID, r.Cgroup, want)
		}
		if r.Diagnosis == nil || r.Diagnosis.Verdict != diagnose.UnreapedNoHandler {
			t.Errorf("zombie %d: diagnosis %+v, want %s", r.Zombie.PID, r.Diagnosis, diagnose.UnreapedNoHandler)
		}
	}
}

func TestRunNowaitText(t *testing.T) {
	run := scenario.Start(t, "nowait", "--count", "2")
	out := runScan(t, "--pid", strconv.Itoa(run.Parent))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want a group line and 2 records:\n%s", len(lines), out)
	}
	want := fmt.Sprintf("parent pid=%d cmd=", run.Parent)
	if !strings.HasPrefix(lines[0], want) || !strings.Contains(lines[0], " zombies=2 verdict=unreaped_no_handler ") {
		t.Errorf("group line %q, want %q... zombies=2 verdict=unreaped_no_handler", lines[0], want)
	}
	for i, pid := range run.Zombies {
		if !strings.Contains(lines[i+1], fmt.Sprintf(" lingering pid=%d ", pid)) {
			t.Errorf("line %d %q, want the record of zombie %d", i+2, lines[i+1], pid)
		}
	}
}

func TestRunThreadLeader(t *testing.T) {
	run := scenario.Start(t, "thread-leader")
	records := scanJSON(t, "--pid", strconv.Itoa(run.Parent))
	if len(records) != 1 {
		t.Fatalf("got %d records, want 1", len(records))
	}
	r := records[0]
	if !r.ThreadsAlive || r.Exit != nil {
		t.Errorf("threads_alive=%v exit=%+v, want true and no exit status", r.ThreadsAlive, r.Exit)
	}
	if r.Diagnosis == nil || r.Diagnosis.Verdict != diagnose.ThreadsAlive {
		t.Errorf("diagnosis %+v, want %s", r.Diagnosis, diagnose.ThreadsAlive)
	}
}

func TestRunTraced(t *testing.T) {
	run := scenario.Start(t, "traced")
	records := scanJSON(t, "--pid", strconv.Itoa(run.Parent))
	if len(records) != 1 {
		t.Fatalf("got %d records, want 1", len(records))
	}
	if tr := records[0].Tracer; tr == nil || int(tr.PID) != run.Tracer {
		t.Errorf("tracer %+v, want pid %d", tr, run.Tracer)
	}
	if d := records[0].Diagnosis; d == nil || d.Verdict != diagnose.TracedWaitsForTracer {
		t.Errorf("diagnosis %+v, want %s", d, diagnose.TracedWaitsForTracer)
	}
}

func TestRunReapNoRecord(t *testing.T) {
	run := scenario.Start(t, "reap", "--count", "3")
	if out := runScan(t, "--pid", strconv.Itoa(run.Parent)); out != "" {
		t.Errorf("scan of a parent that reaps: %q, want no output", out)
	}
}

func TestRunSigignNoRecord(t *testing.T) {
	run := scenario.Start(t, "sigign", "--count", "3")
	if out := runScan(t, "--pid", strconv.Itoa(run.Parent)); out != "" {
		t.Errorf("scan of a parent that ignores SIGCHLD: %q, want no output", out)
	}
}

// orphanScript leaves "sleep 0.5" to PID 1 of the namespace: the inner sh
// starts it in the background and exits, and PID 1 then runs sleep 60.
const orphanScript = `sh -c "sleep 0.5 &"; exec sleep 60`

// startNamespace runs args under "unshare --pid --fork", so that args[0]
// is PID 1 of a new PID namespace. It returns the host PID of that PID 1
// and kills it at cleanup, which ends the namespace.
func startNamespace(t *testing.T, args ...string) int {
	t.Helper()
	requireRoot(t)
	cmd := exec.Command("unshare", append([]string{"--pid", "--fork", "--kill-child"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unshare: %v", err)
	}
	initPID := 0
	t.Cleanup(func() {
		// Killing PID 1 kills and reaps every process of the namespace;
		// unshare then reaps PID 1 and exits.
		if initPID != 0 {
			_ = syscall.Kill(initPID, syscall.SIGKILL)
		} else {
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})
	waitFor(t, "unshare's child", func() bool {
		if c := children(cmd.Process.Pid); len(c) == 1 {
			initPID = c[0]
		}
		return initPID != 0
	})
	return initPID
}

// descendants returns the PIDs below pid, read from the children files.
func descendants(pid int) []int {
	var out []int
	for _, child := range children(pid) {
		out = append(out, child)
		out = append(out, descendants(child)...)
	}
	return out
}

func children(pid int) []int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, field := range strings.Fields(string(data)) {
		if child, err := strconv.Atoi(field); err == nil {
			out = append(out, child)
		}
	}
	return out
}

func comm(pid int) string {
	stat, err := procfs.ReadStat("/proc", pid)
	if err != nil {
		return ""
	}
	return stat.Comm
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunNSInitNeverReaps(t *testing.T) {
	initPID := startNamespace(t, "sh", "-c", orphanScript)
	// The inner sh is itself a zombie of PID 1 for a moment, until PID 1
	// reaps it, so the wait is for the orphaned sleep.
	waitFor(t, "a sleep zombie under the namespace's PID 1", func() bool {
		return slices.ContainsFunc(children(initPID), func(pid int) bool {
			stat, err := procfs.ReadStat("/proc", pid)
			return err == nil && stat.State == 'Z' && stat.Comm == "sleep"
		})
	})
	records := scanJSON(t, "--pid", strconv.Itoa(initPID))
	if len(records) != 1 {
		t.Fatalf("got %d records, want 1", len(records))
	}
	r := records[0]
	if r.Parent == nil || !r.Parent.NSInit || r.Parent.NSPID != 1 {
		t.Errorf("parent %+v, want ns_init with ns_pid 1", r.Parent)
	}
	if r.Zombie.Comm != "sleep" || r.Zombie.NSPID == r.Zombie.PID {
		t.Errorf("zombie comm=%q pid=%d ns_pid=%d, want sleep with a namespace PID",
			r.Zombie.Comm, r.Zombie.PID, r.Zombie.NSPID)
	}
	if r.Diagnosis == nil || r.Diagnosis.Verdict != diagnose.NSInitNeverReaps {
		t.Errorf("diagnosis %+v, want %s", r.Diagnosis, diagnose.NSInitNeverReaps)
	}
}

func TestRunTiniNoRecord(t *testing.T) {
	if _, err := exec.LookPath("tini"); err != nil {
		t.Skip("skipping: tini is not installed")
	}
	initPID := startNamespace(t, "tini", "-s", "--", "sh", "-c", orphanScript)
	waitFor(t, "PID 1 of the namespace to exec tini", func() bool { return comm(initPID) == "tini" })
	// The orphan is adopted by tini, exits half a second later, and tini
	// reaps it, which leaves tini with one child: sleep 60.
	waitFor(t, "tini to adopt the orphan sleep", func() bool { return len(children(initPID)) == 2 })
	waitFor(t, "tini to reap the orphan", func() bool { return len(children(initPID)) == 1 })
	for _, pid := range append([]int{initPID}, descendants(initPID)...) {
		if out := runScan(t, "--pid", strconv.Itoa(pid)); out != "" {
			t.Errorf("scan of pid %d (%s) under tini: %q, want no output", pid, comm(pid), out)
		}
	}
}
