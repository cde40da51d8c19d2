// Package diagnose explains why a zombie is not reaped. It combines what a
// record carries (the parent's wait calls, its SIGCHLD handling, handovers,
// the tracer) with the parent's state in /proc at diagnosis time (stopped,
// traced, frozen, its signal masks and PID namespace). docs/verdicts.md
// describes every verdict.
package diagnose

import (
	"github.com/zombietrace/zombietrace/internal/report"
)

// Verdicts, the stable values of report.Diagnosis.Verdict.
const (
	// ThreadsAlive: the zombie is a thread-group leader whose other
	// threads still run, so the parent cannot reap it yet.
	ThreadsAlive = "threads_alive"
	// TracedWaitsForTracer: a ptrace tracer other than the parent must
	// wait for the dead tracee before the parent can reap it.
	TracedWaitsForTracer = "traced_waits_for_tracer"
	// ParentStopped: the parent is stopped by a stop signal or in a
	// ptrace stop, so it cannot run its wait call.
	ParentStopped = "parent_stopped"
	// ParentFrozen: the parent's cgroup is frozen.
	ParentFrozen = "parent_frozen"
	// ParentExited: the zombie's parent exited without reaping it, and the
	// process it was handed to does not reap it either.
	ParentExited = "parent_exited"
	// SIGCHLDIgnoredAfterDeath: the parent ignores SIGCHLD now, but set
	// that after the child died, which does not reap existing zombies.
	SIGCHLDIgnoredAfterDeath = "sigchld_ignored_after_death"
	// NSInitWaitsOnlyOwn: the parent is PID 1 of a PID namespace and
	// waits only for specific children it started.
	NSInitWaitsOnlyOwn = "ns_init_waits_only_own"
	// NSInitNeverReaps: the parent is PID 1 of a PID namespace and does
	// not reap: no wait call since the death, or, for a zombie found by
	// a /proc scan, the zombie is simply unreaped.
	NSInitNeverReaps = "ns_init_never_reaps"
	// SubreaperNeverWaits: the parent is a child subreaper that adopted
	// the zombie or its ancestor and made no wait call since the death.
	SubreaperNeverWaits = "subreaper_never_waits"
	// HandlerMissesChildren: the parent has a SIGCHLD handler that does
	// not reap every dead child, typically one waitpid per signal while
	// signals for several deaths merge into one.
	HandlerMissesChildren = "handler_misses_children"
	// WaitsOnlySpecific: the parent waits only for other specific PIDs.
	WaitsOnlySpecific = "waits_only_specific"
	// NeverWaits: the parent made no wait call since the death and has
	// no SIGCHLD handler.
	NeverWaits = "never_waits"
	// UnreapedNoHandler: a /proc scan found the zombie and its parent has
	// no SIGCHLD handler. The parent's wait calls are unknown without
	// tracing.
	UnreapedNoHandler = "unreaped_no_handler"
	// Unexplained: none of the above matches, so the evidence lists what
	// is known.
	Unexplained = "unexplained"
)

// Verdicts lists every verdict.
var Verdicts = []string{
	ThreadsAlive, TracedWaitsForTracer, ParentStopped, ParentFrozen, ParentExited,
	SIGCHLDIgnoredAfterDeath, NSInitWaitsOnlyOwn, NSInitNeverReaps, SubreaperNeverWaits,
	HandlerMissesChildren, WaitsOnlySpecific, NeverWaits, UnreapedNoHandler, Unexplained,
}

// Diagnose sets r.Diagnosis on lingering and handed-over records, whose
// zombie is still unreaped, and leaves other records alone. procRoot is
// where procfs is mounted, normally "/proc". The PIDs in r must be PIDs of
// that procfs. Diagnose reads the parent's and the zombie's current state
// there, so call it soon after the record is made.
func Diagnose(r *report.Record, procRoot string) {
	if r == nil || (r.Type != report.TypeLingering && r.Type != report.TypeHandedOver) {
		return
	}
	if procRoot == "" {
		procRoot = "/proc"
	}
	c := newCase(r, procRoot)
	d := c.decide()
	r.Diagnosis = &d
}
