package diagnose_test

import (
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/diagnose"
	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/scenario"
	"github.com/zombietrace/zombietrace/internal/tracetest"
)

// These tests take the record from the real BPF probe and tracker, so the
// wait calls, SIGCHLD delivery, handovers and subreaper flag in the
// evidence are what the kernel reported.

// probeMinAge leaves the parents of the polling scenarios time for a few
// wait calls, which they make every 100 ms, before the record is written.
const probeMinAge = 600 * time.Millisecond

// probeRecord waits for the lingering record of a zombie that match
// accepts and diagnoses it.
func probeRecord(t *testing.T, s *tracetest.Session, match func(report.Record) bool) report.Record {
	t.Helper()
	r := s.WaitRecord(t, func(r report.Record) bool {
		return r.Type == report.TypeLingering && match(r)
	}, probeMinAge+5*time.Second)
	diagnose.Diagnose(&r, "/proc")
	return r
}

func zombieIn(pids ...int) func(report.Record) bool {
	return func(r report.Record) bool { return slices.Contains(pids, int(r.Zombie.PID)) }
}

func TestProbeNeverWaits(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(probeMinAge))
	run := scenario.Start(t, "nowait", "--wait-go")
	run.Go()
	r := probeRecord(t, s, zombieIn(run.Zombies...))
	assertVerdict(t, r, diagnose.NeverWaits,
		"no wait4 or waitid call since death", "SIGCHLD: default disposition")
}

func TestProbeWaitsOnlySpecific(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(probeMinAge))
	d := startDiaggen(t, "waitspecific", "2")
	r := probeRecord(t, s, zombieIn(d.pid(t, "zombies")))
	assertVerdict(t, r, diagnose.WaitsOnlySpecific,
		"all for other PIDs: pid "+d.fields["polled"])
}

func TestProbeNSInitWaitsOnlyOwn(t *testing.T) {
	requireRoot(t)
	s := tracetest.Start(t, tracetest.MinAge(probeMinAge))
	run := scenario.Start(t, "nsinit-waitspecific", "--wait-go", "--count", "2")
	run.Go()
	r := probeRecord(t, s, zombieIn(run.Zombies...))
	assertVerdict(t, r, diagnose.NSInitWaitsOnlyOwn,
		"(ns pid 1)",
		"all for other PIDs: pid "+run.Fields["ns_polled"])
}

func TestProbeHandlerMissesChildren(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(probeMinAge))
	run := scenario.Start(t, "handler-coalesce", "--wait-go", "--count", "5")
	run.Go()
	r := probeRecord(t, s, func(r report.Record) bool {
		return zombieIn(run.Zombies...)(r) && r.SIGCHLD != nil && r.SIGCHLD.Delivery == "already_pending"
	})
	assertVerdict(t, r, diagnose.HandlerMissesChildren,
		"SIGCHLD: handler installed",
		"delivery already_pending",
		fmt.Sprintf("parent has %d unreaped dead children", len(run.Zombies)))
}

func TestProbeSubreaperNeverWaits(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(probeMinAge))
	run := scenario.Start(t, "doublefork-subreaper", "--wait-go", "--count", "2")
	run.Go()
	r := probeRecord(t, s, zombieIn(run.Zombies...))
	assertVerdict(t, r, diagnose.SubreaperNeverWaits,
		fmt.Sprintf("parent %d is a child subreaper", run.Parent),
		"adopted the zombie from pid "+strconv.Itoa(run.Creator),
		"no wait4 or waitid call since death")
}

func TestProbeParentExited(t *testing.T) {
	s := tracetest.Start(t, tracetest.MinAge(probeMinAge))
	d := startDiaggen(t, "parent-exited")
	holder, original := d.pid(t, "parent"), d.pid(t, "original_parent")
	r := probeRecord(t, s, zombieIn(d.pid(t, "zombies")))
	assertVerdict(t, r, diagnose.ParentExited,
		fmt.Sprintf("original parent %d", original),
		fmt.Sprintf("the kernel handed it to pid %d", holder),
		fmt.Sprintf("pid %d has no SIGCHLD handler (SigCgt)", holder))
}
