package tracetest_test

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/scenario"
	"github.com/zombietrace/zombietrace/internal/tracetest"
)

const (
	minAge       = 300 * time.Millisecond
	recordWithin = minAge + time.Second
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := scenario.RemoveBinary(); err != nil {
		code = 1
	}
	os.Exit(code)
}

func lingeringFor(pid int) func(report.Record) bool {
	return func(r report.Record) bool {
		return r.Type == report.TypeLingering && int(r.Zombie.PID) == pid
	}
}

func TestNeverWaitedChild(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(minAge))
	run := scenario.Start(t, "nowait-exec", "--wait-go", "--exit-code", "7", "--",
		"zombietrace-test-marker", "second arg")
	run.Go()
	zombie := run.Zombies[0]

	r := s.WaitRecord(t, lingeringFor(zombie), recordWithin)
	if r.Parent == nil || int(r.Parent.PID) != run.Parent {
		t.Fatalf("parent = %+v, want PID %d", r.Parent, run.Parent)
	}
	if r.Exit == nil || r.Exit.Code == nil || *r.Exit.Code != 7 {
		t.Errorf("exit = %+v, want code 7", r.Exit)
	}
	if !slices.Contains(r.Zombie.Cmdline, "zombietrace-test-marker") {
		t.Errorf("cmdline = %q, want it to contain the marker argument", r.Zombie.Cmdline)
	}
	if r.Zombie.Comm != "sh" {
		t.Errorf("comm = %q, want sh", r.Zombie.Comm)
	}
	if r.DiedAt == nil {
		t.Fatal("died_at is missing")
	}
	if r.AgeSeconds < minAge.Seconds() {
		t.Errorf("age = %.3fs, want at least %s", r.AgeSeconds, minAge)
	}
	if r.Waits == nil || r.Waits.Summary != report.WaitNone {
		t.Errorf("waits = %+v, want summary %q", r.Waits, report.WaitNone)
	}
	if r.SIGCHLD == nil || r.SIGCHLD.Disposition != "default" {
		t.Errorf("sigchld = %+v, want disposition default", r.SIGCHLD)
	}
	if r.OriginalParent != nil {
		t.Errorf("original_parent = %+v, want none: the parent never changed", r.OriginalParent)
	}
	if r.FoundAtStart {
		t.Error("found_at_start is set for a zombie born while tracing")
	}
}

func TestReapedAfterLingering(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(minAge))
	run := scenario.Start(t, "nowait", "--wait-go")
	run.Go()
	zombie := run.Zombies[0]
	s.WaitRecord(t, lingeringFor(zombie), recordWithin)

	run.Stop() // the parent reaps its children before it exits
	r := s.WaitRecord(t, func(r report.Record) bool {
		return r.Type == report.TypeReaped && int(r.Zombie.PID) == zombie
	}, 5*time.Second)
	if r.ReapedBy == nil || int(r.ReapedBy.PID) != run.Parent {
		t.Errorf("reaped_by = %+v, want PID %d", r.ReapedBy, run.Parent)
	}
	if r.AgeSeconds < minAge.Seconds() {
		t.Errorf("age at reap = %.3fs, want at least %s", r.AgeSeconds, minAge)
	}
}

func TestOrphanAdoptedByNamespaceInit(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(minAge))
	run := scenario.Start(t, "nsinit-waitspecific", "--wait-go")
	run.Go()
	zombie := run.Zombies[0]

	r := s.WaitRecord(t, lingeringFor(zombie), recordWithin)
	if r.Parent == nil || int(r.Parent.PID) != run.Init {
		t.Fatalf("parent = %+v, want the namespace init %d", r.Parent, run.Init)
	}
	if !r.Parent.NSInit || r.Parent.NSPID != 1 {
		t.Errorf("parent ns_init = %v, ns_pid = %d; want true and 1", r.Parent.NSInit, r.Parent.NSPID)
	}
	if int(r.Zombie.NSPID) != run.NSZombies[0] {
		t.Errorf("zombie ns_pid = %d, want %d", r.Zombie.NSPID, run.NSZombies[0])
	}
	if r.Zombie.PIDNamespace != r.Parent.PIDNamespace {
		t.Errorf("zombie pid_ns = %d, parent pid_ns = %d; want the same", r.Zombie.PIDNamespace, r.Parent.PIDNamespace)
	}
	if r.OriginalParent == nil || int(r.OriginalParent.PID) != run.Creator {
		t.Errorf("original_parent = %+v, want the worker %d", r.OriginalParent, run.Creator)
	}
	if len(r.Handovers) != 1 || int(r.Handovers[0].To.PID) != run.Init {
		t.Errorf("handovers = %+v, want one to %d", r.Handovers, run.Init)
	}
	if r.Waits == nil || r.Waits.Summary != report.WaitOtherPIDs {
		t.Errorf("waits = %+v, want summary %q", r.Waits, report.WaitOtherPIDs)
	}
}

func TestDoubleForkUnderSubreaper(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(minAge))
	run := scenario.Start(t, "doublefork-subreaper", "--wait-go")
	run.Go()
	zombie := run.Zombies[0]

	r := s.WaitRecord(t, lingeringFor(zombie), recordWithin)
	if r.Parent == nil || int(r.Parent.PID) != run.Parent {
		t.Fatalf("parent = %+v, want the subreaper %d", r.Parent, run.Parent)
	}
	if !r.Parent.Subreaper {
		t.Error("parent subreaper flag is not set")
	}
	if r.OriginalParent == nil || int(r.OriginalParent.PID) != run.Creator {
		t.Errorf("original_parent = %+v, want the middle child %d", r.OriginalParent, run.Creator)
	}
	if r.Waits == nil || r.Waits.Summary != report.WaitNone {
		t.Errorf("waits = %+v, want %q: the wait for the middle child came before the death",
			r.Waits, report.WaitNone)
	}
}

func TestNoRecordWhenReaped(t *testing.T) {
	for _, mode := range []string{"reap", "sigign", "nocldwait"} {
		t.Run(mode, func(t *testing.T) {
			s := tracetest.Start(t, tracetest.MinAge(minAge))
			run := scenario.Start(t, mode, "--wait-go")
			run.Go()
			// A control zombie in the same session proves the tracer was
			// working while the reaped child went unreported.
			control := scenario.Start(t, "nowait", "--wait-go")
			control.Go()
			s.WaitRecord(t, lingeringFor(control.Zombies[0]), recordWithin)
			for _, r := range s.Records() {
				if slices.Contains(run.Zombies, int(r.Zombie.PID)) {
					t.Errorf("got a %s record for reaped child %d", r.Type, r.Zombie.PID)
				}
			}
		})
	}
}

func TestParentPIDFilter(t *testing.T) {
	// Both parents must exist before the session starts, because a
	// scenario prints its PIDs only once its zombies exist.
	other := scenario.Start(t, "nowait")
	run := scenario.Start(t, "nowait")
	s := tracetest.Start(t, tracetest.MinAge(minAge), tracetest.ParentPID(run.Parent))
	s.WaitRecord(t, lingeringFor(run.Zombies[0]), recordWithin)
	time.Sleep(minAge)
	if other.Parent == run.Parent {
		t.Fatal("both scenarios report the same parent")
	}
	for _, r := range s.Records() {
		if r.Parent == nil || int(r.Parent.PID) != run.Parent {
			t.Errorf("record for zombie %d under parent %+v passed the filter", r.Zombie.PID, r.Parent)
		}
	}
}

func TestZombieFoundAtStart(t *testing.T) {
	run := scenario.Start(t, "nowait")
	zombie := run.Zombies[0]
	s := tracetest.Start(t, tracetest.MinAge(minAge))
	r := s.WaitRecord(t, lingeringFor(zombie), time.Second)
	if !r.FoundAtStart {
		t.Error("found_at_start is not set")
	}
	if r.Parent == nil || int(r.Parent.PID) != run.Parent {
		t.Errorf("parent = %+v, want %d", r.Parent, run.Parent)
	}
}

// TestOverflowResync fills a tiny ring buffer with a storm of short
// processes, so that the kernel drops events, and checks that a zombie
// born during the storm is still reported.
func TestOverflowResync(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(minAge), tracetest.RingBufferSize(4096))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			var cmds []*exec.Cmd
			for range 20 {
				cmd := exec.Command("/bin/true")
				if cmd.Start() == nil {
					cmds = append(cmds, cmd)
				}
			}
			for _, cmd := range cmds {
				_ = cmd.Wait()
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	run := scenario.Start(t, "nowait")
	time.Sleep(500 * time.Millisecond)
	close(stop)
	<-done

	// Lost events are noticed within a second, then the resync and the
	// minimum age follow; a loaded machine can take several seconds more.
	s.WaitRecord(t, lingeringFor(run.Zombies[0]), 10*time.Second)
	summary := s.Stop()
	var lost uint64
	for _, n := range summary.EventsLost {
		lost += n
	}
	if lost == 0 {
		t.Error("no events lost: the storm did not overflow the 4 KiB ring buffer, so the test proves nothing")
	}
}
