//go:build linux

package action

import (
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/reaper"
	"github.com/zombietrace/zombietrace/internal/report"
)

// syntheticRecord is a lingering record for a zombie that does not exist.
// Tests that feed it replace the engine's signal and reap functions, so no
// process is touched.
func syntheticRecord(zombiePID, parentPID uint32) report.Record {
	now := time.Now()
	died := now.Add(-time.Second)
	return report.Record{
		Type:       report.TypeLingering,
		Time:       now,
		DiedAt:     &died,
		AgeSeconds: 1,
		Zombie: report.Process{PID: zombiePID, NSPID: zombiePID % 1000, PIDNamespace: 99,
			StartTime: died.Add(-time.Second), Comm: "worker"},
		Parent: &report.Process{PID: parentPID, NSPID: 1, PIDNamespace: 99,
			StartTime: died.Add(-time.Minute), Comm: "init", Cmdline: []string{"/sbin/init"}},
	}
}

// fakeActions replaces the engine's signal and reap functions with ones that
// record their calls.
type fakeActions struct {
	mu      sync.Mutex
	parents []uint32
	err     error
}

func (f *fakeActions) install(e *Engine) {
	e.signal = func(parent report.Process, _ syscall.Signal) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.parents = append(f.parents, parent.PID)
		return f.err
	}
	e.reap = func(_ context.Context, parent report.Process, _ int) (reaper.Result, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.parents = append(f.parents, parent.PID)
		return reaper.Result{Reaped: f.err == nil}, f.err
	}
}

func (f *fakeActions) calls() []uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint32(nil), f.parents...)
}

// newFakeEngine returns an engine with fake actions that has not started
// running yet.
func newFakeEngine(t *testing.T, cfg Config) (*Engine, *actionLog, *fakeActions) {
	t.Helper()
	actions := newActionLog()
	cfg.Emit = actions.add
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	fake := &fakeActions{}
	fake.install(e)
	return e, actions, fake
}

func TestHostInitSkipped(t *testing.T) {
	e, actions, fake := newFakeEngine(t, Config{Mode: ModeReap})
	run(t, e)
	e.Observe(syntheticRecord(900001, 1))

	r := actions.wait(t, 900001, report.OutcomeSkipped, 2*time.Second)
	if !strings.Contains(r.Action.Reason, "PID 1 of zombietrace's PID namespace") {
		t.Errorf("reason = %q, want it to name the PID 1 rule", r.Action.Reason)
	}
	if r.Action.Kind != ModeReap {
		t.Errorf("kind = %q, want %q", r.Action.Kind, ModeReap)
	}
	time.Sleep(200 * time.Millisecond)
	if calls := fake.calls(); len(calls) != 0 {
		t.Errorf("reap was called for parents %v", calls)
	}
	if got := actions.outcomes(900001); len(got) != 1 {
		t.Errorf("outcomes = %v, want one skip", got)
	}
}

func TestHostInitAllowed(t *testing.T) {
	e, actions, fake := newFakeEngine(t, Config{Mode: ModeReap, AllowHostInit: true})
	run(t, e)
	e.Observe(syntheticRecord(900002, 1))

	actions.wait(t, 900002, report.OutcomeDone, 2*time.Second)
	if calls := fake.calls(); len(calls) != 1 || calls[0] != 1 {
		t.Errorf("fake reap calls = %v, want one for parent 1", calls)
	}
}

func TestThreadsAliveSkipped(t *testing.T) {
	e, actions, fake := newFakeEngine(t, Config{Mode: ModeSignal})
	run(t, e)
	r := syntheticRecord(900003, 800003)
	r.ThreadsAlive = true
	e.Observe(r)

	got := actions.wait(t, 900003, report.OutcomeSkipped, 2*time.Second)
	if !strings.Contains(got.Action.Reason, "threads still run") {
		t.Errorf("reason = %q, want the live-threads reason", got.Action.Reason)
	}
	if calls := fake.calls(); len(calls) != 0 {
		t.Errorf("signal was sent to parents %v", calls)
	}
}

func TestRateLimit(t *testing.T) {
	const rate = 4.0
	e, actions, _ := newFakeEngine(t, Config{Mode: ModeSignal, DryRun: true, Rate: rate})
	const zombies = 5
	for i := range uint32(zombies) {
		e.Observe(syntheticRecord(900100+i, 800100+i))
	}
	start := time.Now()
	run(t, e)

	var times []time.Time
	for i := range uint32(zombies) {
		r := actions.wait(t, 900100+i, report.OutcomeDryRun, 5*time.Second)
		times = append(times, r.Time)
	}
	first, last := times[0], times[0]
	for _, at := range times[1:] {
		if at.Before(first) {
			first = at
		}
		if at.After(last) {
			last = at
		}
	}
	span := last.Sub(first)
	want := time.Duration(float64(zombies-1) / rate * float64(time.Second))
	// The timer may fire a little early relative to the record clock.
	if span < want-20*time.Millisecond {
		t.Errorf("%d actions at rate %v took %s, want at least %s", zombies, rate, span, want)
	}
	if elapsed := time.Since(start); elapsed > want+2*time.Second {
		t.Errorf("%d actions took %s, want about %s", zombies, elapsed, want)
	}
}

func TestDryRunDescribesAction(t *testing.T) {
	e, actions, fake := newFakeEngine(t, Config{Mode: ModeReap, DryRun: true})
	run(t, e)
	e.Observe(syntheticRecord(900201, 800201))

	r := actions.wait(t, 900201, report.OutcomeDryRun, 2*time.Second)
	want := "would make parent 800201 reap zombie 900201 (PID 201 in the parent's namespace)"
	if r.Action.Reason != want {
		t.Errorf("reason = %q, want %q", r.Action.Reason, want)
	}
	if !r.Action.DryRun {
		t.Error("dry_run is not set")
	}
	if calls := fake.calls(); len(calls) != 0 {
		t.Errorf("dry run called reap for parents %v", calls)
	}
}

func TestActAfter(t *testing.T) {
	const actAfter = 1500 * time.Millisecond
	e, actions, _ := newFakeEngine(t, Config{Mode: ModeSignal, DryRun: true, ActAfter: actAfter})
	run(t, e)
	r := syntheticRecord(900301, 800301)
	e.Observe(r) // the zombie died 1 s before r.Time

	got := actions.wait(t, 900301, report.OutcomeDryRun, 3*time.Second)
	if age := got.Time.Sub(*r.DiedAt); age < actAfter {
		t.Errorf("acted at age %s, want at least %s", age, actAfter)
	}
}

func TestFailuresCountedForRefusal(t *testing.T) {
	e, actions, fake := newFakeEngine(t, Config{Mode: ModeReap, Interval: 50 * time.Millisecond,
		MaxFailures: 2})
	fake.err = reaper.ErrPtraceRefused
	run(t, e)
	e.Observe(syntheticRecord(900401, 800401))

	r := actions.wait(t, 900401, report.OutcomeSkipped, 3*time.Second)
	if !strings.Contains(r.Action.Reason, "gave up on the parent after 2 failed actions") {
		t.Errorf("reason = %q, want the give-up reason", r.Action.Reason)
	}
	want := []string{report.OutcomeRefused, report.OutcomeRefused, report.OutcomeSkipped}
	if got := actions.outcomes(900401); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("outcomes = %v, want %v", got, want)
	}
}

func TestModeOffIgnoresRecords(t *testing.T) {
	e, actions, fake := newFakeEngine(t, Config{})
	run(t, e)
	e.Observe(syntheticRecord(900501, 800501))
	time.Sleep(100 * time.Millisecond)
	if got := actions.all(); len(got) != 0 {
		t.Errorf("mode off emitted %d records", len(got))
	}
	if calls := fake.calls(); len(calls) != 0 {
		t.Errorf("mode off acted on parents %v", calls)
	}
}
