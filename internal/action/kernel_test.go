//go:build linux

package action

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/scenario"
	"github.com/zombietrace/zombietrace/internal/tracetest"
)

// These tests run the real probe and tracker and act on real zombies. Every
// parent that an engine may act on runs as PID 1 of a PID namespace of its
// own, and the feeder passes the engine only the records of those parents.

const (
	minAge = 300 * time.Millisecond
	// recordWithin bounds the wait for a record the tracker or the engine
	// emits after a zombie reaches minAge.
	recordWithin = minAge + 5*time.Second
)

// startNamespaceInit starts the nsinit-waitspecific scenario: PID 1 of a new
// PID namespace that never reaps its adopted orphan. It feeds the records of
// that PID 1 to the engine and returns the scenario.
func startNamespaceInit(t *testing.T, cfg Config) (*scenario.Run, *tracetest.Session, *actionLog) {
	t.Helper()
	tracetest.RequireBPF(t)
	f := newFeeder()
	s := tracetest.Start(t, tracetest.MinAge(minAge), tracetest.OnRecord(f.observe))
	e, actions := startEngine(t, cfg)
	run := scenario.Start(t, "nsinit-waitspecific", "--wait-go")
	run.Go()
	f.allow(e, run.Init)
	return run, s, actions
}

func reapedRecord(pid int) func(report.Record) bool {
	return func(r report.Record) bool {
		return r.Type == report.TypeReaped && int(r.Zombie.PID) == pid
	}
}

func TestReapNamespaceInitZombie(t *testing.T) {
	run, s, actions := startNamespaceInit(t, Config{Mode: ModeReap})
	zombie := uint32(run.Zombies[0])

	done := actions.wait(t, zombie, report.OutcomeDone, recordWithin)
	if done.Action.Kind != ModeReap {
		t.Errorf("kind = %q, want %q", done.Action.Kind, ModeReap)
	}
	if done.Action.Attempt != 1 {
		t.Errorf("attempt = %d, want 1", done.Action.Attempt)
	}
	if done.Parent == nil || int(done.Parent.PID) != run.Init {
		t.Errorf("parent = %+v, want the namespace init %d", done.Parent, run.Init)
	}
	if done.Action.WaitedBefore {
		t.Error("waited_before is set, but the init only waited for other PIDs")
	}
	actions.wait(t, zombie, report.OutcomeConfirmed, recordWithin)

	reaped := s.WaitRecord(t, reapedRecord(int(zombie)), recordWithin)
	if reaped.ReapedBy == nil || int(reaped.ReapedBy.PID) != run.Init {
		t.Errorf("reaped_by = %+v, want the namespace init %d", reaped.ReapedBy, run.Init)
	}
	if state := zombieState(zombie); state != 0 {
		t.Errorf("zombie %d is still in /proc with state %c", zombie, state)
	}
}

func TestSignalConfirmedByHandler(t *testing.T) {
	tracetest.RequireBPF(t)
	bin := buildC(t, "sigparent.c")
	f := newFeeder()
	s := tracetest.Start(t, tracetest.MinAge(minAge), tracetest.OnRecord(f.observe))
	e, actions := startEngine(t, Config{Mode: ModeSignal, Interval: 5 * time.Second})
	parent, ready := startInNamespace(t, bin)
	f.allow(e, parent.pid)
	nsZombie, err := strconv.Atoi(strings.TrimPrefix(ready, "ready "))
	if err != nil {
		t.Fatalf("parse %q: %v", ready, err)
	}

	lingering := s.WaitRecord(t, func(r report.Record) bool {
		return r.Type == report.TypeLingering && r.Parent != nil && int(r.Parent.PID) == parent.pid
	}, recordWithin)
	if int(lingering.Zombie.NSPID) != nsZombie {
		t.Fatalf("lingering zombie has ns_pid %d, want %d", lingering.Zombie.NSPID, nsZombie)
	}
	zombie := lingering.Zombie.PID

	done := actions.wait(t, zombie, report.OutcomeDone, recordWithin)
	if done.Action.Signal != "SIGCHLD" {
		t.Errorf("signal = %q, want SIGCHLD", done.Action.Signal)
	}
	if !done.Action.WaitedBefore {
		t.Error("waited_before is not set, but the parent called waitid(WNOWAIT) for the zombie")
	}
	confirmed := actions.wait(t, zombie, report.OutcomeConfirmed, recordWithin)
	if confirmed.Action.Attempt != 1 {
		t.Errorf("confirmed attempt = %d, want 1", confirmed.Action.Attempt)
	}
	reaped := s.WaitRecord(t, reapedRecord(int(zombie)), recordWithin)
	if reaped.ReapedBy == nil || int(reaped.ReapedBy.PID) != parent.pid {
		t.Errorf("reaped_by = %+v, want the parent %d", reaped.ReapedBy, parent.pid)
	}
}

func TestDryRunLeavesZombie(t *testing.T) {
	run, _, actions := startNamespaceInit(t, Config{Mode: ModeReap, DryRun: true,
		Interval: 200 * time.Millisecond})
	zombie := uint32(run.Zombies[0])

	r := actions.wait(t, zombie, report.OutcomeDryRun, recordWithin)
	if !strings.HasPrefix(r.Action.Reason, "would make parent "+strconv.Itoa(run.Init)+" reap") {
		t.Errorf("reason = %q, want it to say what reap would do", r.Action.Reason)
	}
	time.Sleep(time.Second)
	if state := zombieState(zombie); state != 'Z' {
		t.Errorf("zombie %d has state %c after a dry run, want Z", zombie, state)
	}
	if got := actions.outcomes(zombie); len(got) != 1 {
		t.Errorf("outcomes = %v, want one dry_run over five intervals", got)
	}
}

func TestDenyCommandSkips(t *testing.T) {
	run, _, actions := startNamespaceInit(t, Config{Mode: ModeReap, DenyCommands: []string{"^zombiegen$"}})
	zombie := uint32(run.Zombies[0])

	r := actions.wait(t, zombie, report.OutcomeSkipped, recordWithin)
	if !strings.Contains(r.Action.Reason, `--action-deny-cmd "^zombiegen$"`) {
		t.Errorf("reason = %q, want it to name the deny expression", r.Action.Reason)
	}
	time.Sleep(500 * time.Millisecond)
	if state := zombieState(zombie); state != 'Z' {
		t.Errorf("zombie %d has state %c after a skip, want Z", zombie, state)
	}
	if got := actions.outcomes(zombie); len(got) != 1 {
		t.Errorf("outcomes = %v, want one skip", got)
	}
}

func TestMaxFailuresGivesUp(t *testing.T) {
	// The init of nsinit-waitspecific keeps SIGCHLD at its default, so the
	// signal has no effect and every attempt fails.
	run, _, actions := startNamespaceInit(t, Config{Mode: ModeSignal, Interval: 300 * time.Millisecond,
		MaxFailures: 2})
	zombie := uint32(run.Zombies[0])

	r := actions.wait(t, zombie, report.OutcomeSkipped, recordWithin)
	if !strings.Contains(r.Action.Reason, "gave up on the parent after 2 failed actions") {
		t.Errorf("reason = %q, want the give-up reason", r.Action.Reason)
	}
	want := []string{report.OutcomeDone, report.OutcomeNoEffect, report.OutcomeDone, report.OutcomeNoEffect,
		report.OutcomeSkipped}
	if got := actions.outcomes(zombie); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("outcomes = %v, want %v", got, want)
	}
	time.Sleep(time.Second)
	if got := actions.outcomes(zombie); len(got) != len(want) {
		t.Errorf("outcomes after giving up = %v, want no more actions", got)
	}
}

// TestReapPythonSpawnPool runs the multiprocessing case that the README
// describes: the resource trackers of two spawn pools linger under a Python
// PID 1 that only waits for specific PIDs.
func TestReapPythonSpawnPool(t *testing.T) {
	tracetest.RequireBPF(t)
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skipf("python3 not found: %v", err)
	}
	script, err := filepath.Abs(filepath.Join("testdata", "spawnpool.py"))
	if err != nil {
		t.Fatal(err)
	}
	f := newFeeder()
	s := tracetest.Start(t, tracetest.MinAge(minAge), tracetest.OnRecord(f.observe))
	e, actions := startEngine(t, Config{Mode: ModeReap})
	py, _ := startInNamespace(t, python, "-u", script)
	f.allow(e, py.pid)

	lingering := s.WaitRecord(t, func(r report.Record) bool {
		return r.Type == report.TypeLingering && r.Parent != nil && int(r.Parent.PID) == py.pid
	}, recordWithin)
	if !strings.Contains(strings.Join(lingering.Zombie.Cmdline, " "), "resource_tracker") {
		t.Errorf("zombie cmdline = %q, want the multiprocessing resource tracker", lingering.Zombie.Cmdline)
	}

	// Wait until every zombie that the tracker reported under the Python
	// PID 1 is confirmed reaped.
	deadline := time.Now().Add(recordWithin)
	for {
		var pending []uint32
		for _, r := range s.Records() {
			if r.Type == report.TypeLingering && r.Parent != nil && int(r.Parent.PID) == py.pid &&
				!hasOutcome(actions, r.Zombie.PID, report.OutcomeConfirmed) {
				pending = append(pending, r.Zombie.PID)
			}
		}
		if len(pending) == 0 && len(zombieChildren(t, py.pid)) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zombies %v not confirmed reaped, zombie children %v; actions:\n%s",
				pending, zombieChildren(t, py.pid), describeActions(actions.all()))
		}
		time.Sleep(50 * time.Millisecond)
	}
	confirmed := 0
	for _, r := range actions.all() {
		if r.Action.Outcome == report.OutcomeConfirmed {
			confirmed++
		}
	}
	t.Logf("actions:\n%s", describeActions(actions.all()))
	if confirmed < 2 {
		t.Errorf("confirmed %d reaps, want at least 2 (one resource tracker per pool run)", confirmed)
	}

	// Python keeps running: it prints two more ticks after the reaps.
	first := py.waitLine(t, "tick", 5*time.Second)
	second := py.waitLine(t, "tick", 5*time.Second)
	if first == second {
		t.Errorf("tick lines repeat %q", first)
	}
	if state := zombieState(uint32(py.pid)); state != 'S' && state != 'R' {
		t.Errorf("python3 %d has state %c after the reaps, want running or sleeping", py.pid, state)
	}
}

func hasOutcome(actions *actionLog, pid uint32, outcome string) bool {
	for _, o := range actions.outcomes(pid) {
		if o == outcome {
			return true
		}
	}
	return false
}
