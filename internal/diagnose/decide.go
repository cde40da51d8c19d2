package diagnose

import (
	"fmt"
	"strings"

	"github.com/zombietrace/zombietrace/internal/report"
)

// zombieCase is one record with the live /proc state it is diagnosed with.
type zombieCase struct {
	r        *report.Record
	procRoot string
	// parent is nil when the record has no parent or /proc no longer shows
	// it, and parentErr then contains the reason.
	parent    *liveProcess
	parentErr error
	// zombie is nil when /proc no longer shows the zombie.
	zombie *liveProcess
}

func newCase(r *report.Record, procRoot string) *zombieCase {
	c := &zombieCase{r: r, procRoot: procRoot}
	if r.Parent != nil {
		c.parent, c.parentErr = readLive(procRoot, r.Parent)
	}
	if z, err := readLive(procRoot, &r.Zombie); err == nil && z.stat.State == 'Z' {
		c.zombie = z
	}
	return c
}

// decide picks the first verdict that applies. The order puts causes that
// keep any parent from reaping (threads still running, a tracer, a parent
// that cannot run) before the ways a parent's own code fails to reap.
func (c *zombieCase) decide() report.Diagnosis {
	steps := []func() (report.Diagnosis, bool){
		c.threadsAlive,
		c.traced,
		c.parentCannotRun,
		c.parentExited,
		c.ignoredAfterDeath,
		c.nsInit,
		c.subreaper,
		c.handler,
		c.waitsOnlySpecific,
		c.neverWaits,
	}
	for _, step := range steps {
		if d, ok := step(); ok {
			return d
		}
	}
	return c.unexplained()
}

func (c *zombieCase) threadsAlive() (report.Diagnosis, bool) {
	threads := 0
	if c.zombie != nil {
		threads = c.zombie.status.Threads
	}
	if !c.r.ThreadsAlive && threads <= 1 {
		return report.Diagnosis{}, false
	}
	var evidence []string
	if threads > 1 {
		evidence = append(evidence, fmt.Sprintf(
			"zombie %d is a thread-group leader, and /proc shows Threads: %d (the leader and %d running)",
			c.r.Zombie.PID, threads, threads-1))
	} else {
		evidence = append(evidence, "the leader exited while other threads of its process still ran")
	}
	return report.Diagnosis{
		Verdict: ThreadsAlive,
		Summary: fmt.Sprintf("Process %d's main thread exited but its other threads still run, "+
			"so it cannot be reaped until the last thread exits.", c.r.Zombie.PID),
		Evidence: evidence,
		Fix: "Nothing, if the process is still working: it is not a leak yet. If its threads " +
			"are stuck, find out why they do not exit. Calling pthread_exit in main is the " +
			"usual way to get here.",
	}, true
}

func (c *zombieCase) traced() (report.Diagnosis, bool) {
	tracer := 0
	if c.r.Tracer != nil {
		tracer = int(c.r.Tracer.PID)
	}
	parentPID := 0
	if c.r.Parent != nil {
		parentPID = int(c.r.Parent.PID)
	}
	if c.zombie != nil && c.zombie.status.TracerPID != 0 && c.zombie.status.TracerPID != parentPID {
		tracer = c.zombie.status.TracerPID
	}
	if tracer == 0 {
		return report.Diagnosis{}, false
	}
	evidence := []string{fmt.Sprintf("zombie %d is ptrace-attached by pid %d%s (TracerPid)",
		c.r.Zombie.PID, tracer, c.comm(c.r.Tracer))}
	if parentPID != 0 {
		evidence = append(evidence, fmt.Sprintf("its parent is pid %d, which cannot reap it "+
			"until the tracer waits for it or detaches", parentPID))
	}
	return report.Diagnosis{
		Verdict: TracedWaitsForTracer,
		Summary: fmt.Sprintf("Zombie %d is traced by pid %d, which has not waited for it, "+
			"so its parent cannot reap it yet.", c.r.Zombie.PID, tracer),
		Evidence: evidence,
		Fix: "Make the tracer (a debugger, strace, a sandbox) wait for its tracees with " +
			"waitpid(-1, __WALL) or detach from them. When the tracer exits, the zombie goes " +
			"back to its parent.",
	}, true
}

func (c *zombieCase) parentCannotRun() (report.Diagnosis, bool) {
	if c.parent == nil {
		return report.Diagnosis{}, false
	}
	p := c.parent
	if p.stopped() {
		evidence := []string{stateEvidence(p)}
		if p.status.TracerPID != 0 {
			evidence = append(evidence, fmt.Sprintf("parent is ptrace-attached by pid %d", p.status.TracerPID))
		}
		evidence = append(evidence, c.waitAndSignalEvidence()...)
		return report.Diagnosis{
			Verdict: ParentStopped,
			Summary: fmt.Sprintf("Parent %d%s is stopped and cannot run its wait call.",
				p.pid, c.comm(c.r.Parent)),
			Evidence: evidence,
			Fix: "Resume the parent (kill -CONT, or let its debugger continue it). If it " +
				"still does not reap after that, diagnose it again.",
		}, true
	}
	if frozen := frozenCgroup(c.procRoot, p.pid); frozen != "" {
		evidence := []string{frozen, stateEvidence(p)}
		evidence = append(evidence, c.waitAndSignalEvidence()...)
		return report.Diagnosis{
			Verdict: ParentFrozen,
			Summary: fmt.Sprintf("Parent %d%s is frozen by its cgroup and cannot run its wait call.",
				p.pid, c.comm(c.r.Parent)),
			Evidence: evidence,
			Fix: "Thaw the cgroup (echo 0 > cgroup.freeze, echo THAWED > freezer.state, " +
				"docker unpause, or resume the paused pod).",
		}, true
	}
	return report.Diagnosis{}, false
}

func (c *zombieCase) parentExited() (report.Diagnosis, bool) {
	var from *report.Process
	for i := range c.r.Handovers {
		if c.r.Handovers[i].Dead {
			from = &c.r.Handovers[i].From
		}
	}
	if from == nil && (c.r.Parent == nil || !c.r.Parent.Exited) {
		return report.Diagnosis{}, false
	}
	if from == nil {
		from = c.r.Parent
		evidence := []string{fmt.Sprintf("parent %d%s has exited without reaping the zombie",
			from.PID, c.comm(from))}
		return report.Diagnosis{
			Verdict: ParentExited,
			Summary: fmt.Sprintf("Parent %d%s exited without reaping, and the kernel hands the zombie "+
				"to the nearest child subreaper or to PID 1 of its PID namespace.", from.PID, c.comm(from)),
			Evidence: evidence,
			Fix:      parentExitedFix,
		}, true
	}

	holder := c.r.Parent
	evidence := []string{fmt.Sprintf("original parent %d%s exited while the zombie was unreaped",
		from.PID, c.comm(from))}
	if holder == nil {
		evidence = append(evidence, "the process now holding the zombie is not known")
		return report.Diagnosis{Verdict: ParentExited, Summary: fmt.Sprintf(
			"Parent %d%s exited without reaping the zombie.", from.PID, c.comm(from)),
			Evidence: evidence, Fix: parentExitedFix}, true
	}
	evidence = append(evidence, fmt.Sprintf("the kernel handed it to pid %d%s, %s",
		holder.PID, c.comm(holder), c.role()))
	reaps := c.reapingEvidence()
	evidence = append(evidence, reaps...)
	return report.Diagnosis{
		Verdict: ParentExited,
		Summary: fmt.Sprintf("Parent %d%s exited without reaping, and pid %d%s, which "+
			"adopted the zombie, does not reap it either.", from.PID, c.comm(from), holder.PID, c.comm(holder)),
		Evidence: evidence,
		Fix:      parentExitedFix,
	}, true
}

const parentExitedFix = "Have the original parent reap its children before it exits, and make " +
	"the adopting process reap adopted children: run an init such as tini as PID 1 " +
	"(docker run --init), or loop on waitpid(-1, WNOHANG) in the subreaper."

// role describes the process that holds the zombie after a handover.
func (c *zombieCase) role() string {
	switch {
	case c.parentIsNSInit():
		return fmt.Sprintf("PID 1 of PID namespace %d", c.parentNamespace())
	case c.r.Parent.Subreaper:
		return "a child subreaper"
	}
	return "the nearest child subreaper or namespace init"
}

// reapingEvidence describes whether the holder of the zombie reaps: its
// SIGCHLD handler and its wait calls.
func (c *zombieCase) reapingEvidence() []string {
	var out []string
	if c.parent != nil {
		switch {
		case c.parent.catchesSIGCHLD():
			out = append(out, fmt.Sprintf("pid %d has a SIGCHLD handler (SigCgt) but has not reaped the zombie", c.parent.pid))
		case c.parent.ignoresSIGCHLD():
			out = append(out, fmt.Sprintf("pid %d ignores SIGCHLD (SigIgn) but set that after the zombie was handed over", c.parent.pid))
		default:
			out = append(out, fmt.Sprintf("pid %d has no SIGCHLD handler (SigCgt)", c.parent.pid))
		}
	}
	return append(out, c.waitEvidence()...)
}

func (c *zombieCase) ignoredAfterDeath() (report.Diagnosis, bool) {
	if c.parent == nil || !c.parent.ignoresSIGCHLD() {
		return report.Diagnosis{}, false
	}
	if c.r.SIGCHLD != nil && c.r.SIGCHLD.Disposition == "ignore" {
		return report.Diagnosis{}, false
	}
	evidence := []string{fmt.Sprintf("parent %d ignores SIGCHLD now (SigIgn)", c.parent.pid)}
	if c.r.SIGCHLD != nil {
		evidence = append(evidence, "at the death: "+sigchldEvidence(c.r.SIGCHLD))
	}
	evidence = append(evidence, c.waitEvidence()...)
	return report.Diagnosis{
		Verdict: SIGCHLDIgnoredAfterDeath,
		Summary: fmt.Sprintf("Parent %d%s set SIGCHLD to SIG_IGN after this child died, which "+
			"makes the kernel reap later children but leaves existing zombies.", c.parent.pid, c.comm(c.r.Parent)),
		Evidence: evidence,
		Fix: "Ignore SIGCHLD before forking, or reap the existing children once with " +
			"waitpid(-1, WNOHANG) in a loop after setting SIG_IGN.",
	}, true
}

func (c *zombieCase) nsInit() (report.Diagnosis, bool) {
	if !c.parentIsNSInit() {
		return report.Diagnosis{}, false
	}
	nsEvidence := fmt.Sprintf("parent is PID 1 of PID namespace %d (ns pid 1)", c.parentNamespace())
	waits := c.r.Waits
	fix := "Run an init that reaps every child as PID 1: tini or dumb-init, docker run --init, " +
		"or Kubernetes shareProcessNamespace: true (the pause container reaps), or add a " +
		"waitpid(-1, WNOHANG) loop to the program."
	if waits != nil && (waits.Summary == report.WaitOtherPIDs || onlySpecificHistory(waits)) {
		evidence := append([]string{nsEvidence}, c.waitAndSignalEvidence()...)
		return report.Diagnosis{
			Verdict: NSInitWaitsOnlyOwn,
			Summary: fmt.Sprintf("Parent %d%s is PID 1 of its PID namespace but waits only for the "+
				"children it started, so adopted orphans stay zombies.", c.r.Parent.PID, c.comm(c.r.Parent)),
			Evidence: evidence,
			Fix:      fix,
		}, true
	}
	if waits != nil && waits.Summary != report.WaitNone {
		return report.Diagnosis{}, false
	}
	evidence := append([]string{nsEvidence}, c.waitAndSignalEvidence()...)
	summary := fmt.Sprintf("Parent %d%s is PID 1 of its PID namespace and made no wait call "+
		"since the child died, so orphans in the namespace stay zombies.", c.r.Parent.PID, c.comm(c.r.Parent))
	if waits == nil {
		summary = fmt.Sprintf("Parent %d%s is PID 1 of its PID namespace but has not reaped this "+
			"child, as is usual for a program that was not written to be an init.", c.r.Parent.PID, c.comm(c.r.Parent))
	}
	return report.Diagnosis{Verdict: NSInitNeverReaps, Summary: summary, Evidence: evidence, Fix: fix}, true
}

func (c *zombieCase) subreaper() (report.Diagnosis, bool) {
	if c.r.Parent == nil || !c.r.Parent.Subreaper || c.r.Waits == nil || c.r.Waits.Summary != report.WaitNone {
		return report.Diagnosis{}, false
	}
	evidence := []string{fmt.Sprintf("parent %d is a child subreaper (PR_SET_CHILD_SUBREAPER)", c.r.Parent.PID)}
	if c.r.OriginalParent != nil {
		evidence = append(evidence, fmt.Sprintf("it adopted the zombie from pid %d%s",
			c.r.OriginalParent.PID, c.comm(c.r.OriginalParent)))
	}
	evidence = append(evidence, c.waitAndSignalEvidence()...)
	return report.Diagnosis{
		Verdict: SubreaperNeverWaits,
		Summary: fmt.Sprintf("Parent %d%s is a child subreaper that adopts orphans but made no wait "+
			"call since this one died.", c.r.Parent.PID, c.comm(c.r.Parent)),
		Evidence: evidence,
		Fix: "A subreaper must reap what it adopts: loop on waitpid(-1, WNOHANG) on every " +
			"SIGCHLD, or drop PR_SET_CHILD_SUBREAPER so orphans go to an init that reaps.",
	}, true
}

func (c *zombieCase) handler() (report.Diagnosis, bool) {
	if c.r.Parent == nil {
		return report.Diagnosis{}, false
	}
	traced := c.r.SIGCHLD != nil && c.r.SIGCHLD.Disposition == "handler"
	live := c.parent != nil && c.parent.catchesSIGCHLD()
	if !traced && !live {
		return report.Diagnosis{}, false
	}
	if c.r.Waits != nil && c.r.Waits.Summary == report.WaitOtherPIDs {
		return report.Diagnosis{}, false
	}
	pid := c.r.Parent.PID
	evidence := c.waitAndSignalEvidence()
	if siblings := c.zombieSiblings(); len(siblings) > 1 {
		evidence = append(evidence, fmt.Sprintf("parent has %d unreaped dead children: %s",
			len(siblings), joinInts(siblings)))
	}
	summary := fmt.Sprintf("Parent %d%s has a SIGCHLD handler that did not reap this child, which "+
		"happens when it reaps one child per signal and signals for several deaths merge.", pid, c.comm(c.r.Parent))
	if c.r.SIGCHLD != nil && c.r.SIGCHLD.Delivery == "already_pending" {
		summary = fmt.Sprintf("Parent %d%s has a SIGCHLD handler, but this child's SIGCHLD merged "+
			"with one already pending, and the handler reaps fewer children than died.", pid, c.comm(c.r.Parent))
	}
	return report.Diagnosis{
		Verdict:  HandlerMissesChildren,
		Summary:  summary,
		Evidence: evidence,
		Fix: "In the handler, call waitpid(-1, &status, WNOHANG) in a loop until it " +
			"returns 0 or -1, because one SIGCHLD can announce several deaths.",
	}, true
}

// onlySpecificHistory reports whether a parent that made no wait call since
// the death has, in all the calls seen before, waited only for specific PIDs.
func onlySpecificHistory(w *report.Waits) bool {
	return w.Summary == report.WaitNone && w.History != nil &&
		w.History.SpecificPIDs > 0 && w.History.AnyChild == 0
}

func (c *zombieCase) waitsOnlySpecific() (report.Diagnosis, bool) {
	if c.r.Parent == nil || c.r.Waits == nil {
		return report.Diagnosis{}, false
	}
	if c.r.Waits.Summary != report.WaitOtherPIDs && !onlySpecificHistory(c.r.Waits) {
		return report.Diagnosis{}, false
	}
	return report.Diagnosis{
		Verdict: WaitsOnlySpecific,
		Summary: fmt.Sprintf("Parent %d%s waits only for specific other PIDs, never for this child.",
			c.r.Parent.PID, c.comm(c.r.Parent)),
		Evidence: c.waitAndSignalEvidence(),
		Fix: "Wait for every child the program starts (keep the PIDs, or wait with " +
			"waitpid(-1, WNOHANG) in a loop). In Python, keep the Popen object and call " +
			"wait(), or use subprocess.run.",
	}, true
}

func (c *zombieCase) neverWaits() (report.Diagnosis, bool) {
	if c.r.Parent == nil {
		return report.Diagnosis{}, false
	}
	fix := "Reap children: call waitpid for each child, or install a SIGCHLD handler that loops " +
		"on waitpid(-1, WNOHANG). If exit statuses are not needed, set SIGCHLD to SIG_IGN " +
		"before forking."
	if c.r.Waits == nil && (c.r.FoundAtStart || c.r.Recovered) {
		return report.Diagnosis{
			Verdict: UnreapedNoHandler,
			Summary: fmt.Sprintf("Parent %d%s has no SIGCHLD handler and has not reaped this child, "+
				"and only tracing shows whether it calls wait at all.", c.r.Parent.PID, c.comm(c.r.Parent)),
			Evidence: c.waitAndSignalEvidence(),
			Fix:      fix,
		}, true
	}
	if c.r.Waits == nil || c.r.Waits.Summary != report.WaitNone {
		return report.Diagnosis{}, false
	}
	return report.Diagnosis{
		Verdict: NeverWaits,
		Summary: fmt.Sprintf("Parent %d%s made no wait call since the child died and has no "+
			"SIGCHLD handler.", c.r.Parent.PID, c.comm(c.r.Parent)),
		Evidence: c.waitAndSignalEvidence(),
		Fix:      fix,
	}, true
}

func (c *zombieCase) unexplained() report.Diagnosis {
	evidence := c.waitAndSignalEvidence()
	if c.r.Parent == nil {
		evidence = append(evidence, "the record names no parent")
	}
	if c.r.SIGCHLD != nil && c.r.SIGCHLD.Delivery == "none" {
		evidence = append(evidence, "the child's exit signal is 0, so only a wait with __WALL "+
			"or __WCLONE sees it")
	}
	return report.Diagnosis{
		Verdict:  Unexplained,
		Summary:  "No known cause matches, so the evidence lists what is known about the parent.",
		Evidence: evidence,
		Fix: "Check that the parent's wait calls can return this child (wait options, " +
			"process group, __WALL for clone children).",
	}
}

// waitAndSignalEvidence lists the parent's wait calls, its SIGCHLD
// handling at the death, its live signal masks, and why its live state is
// missing.
func (c *zombieCase) waitAndSignalEvidence() []string {
	out := c.waitEvidence()
	if c.r.SIGCHLD != nil {
		out = append(out, sigchldEvidence(c.r.SIGCHLD))
	}
	if c.parent != nil {
		out = append(out, maskEvidence(c.parent))
	} else if c.parentErr != nil {
		out = append(out, "parent state unknown: "+c.parentErr.Error())
	}
	return out
}

func (c *zombieCase) waitEvidence() []string {
	if c.r.Waits == nil {
		if c.r.FoundAtStart || c.r.Recovered {
			return []string{"wait calls unknown: the zombie was found in /proc, not traced since its death"}
		}
		return nil
	}
	if c.r.FoundAtStart || c.r.Recovered {
		return []string{waitsEvidenceSince(c.r.Waits, "since zombietrace found it")}
	}
	return []string{waitsEvidence(c.r.Waits)}
}

func (c *zombieCase) parentIsNSInit() bool {
	if c.r.Parent == nil {
		return false
	}
	return c.r.Parent.NSInit || (c.parent != nil && c.parent.nsInit())
}

func (c *zombieCase) parentNamespace() uint64 {
	if c.parent != nil && c.parent.pidNS != 0 {
		return c.parent.pidNS
	}
	return uint64(c.r.Parent.PIDNamespace)
}

// zombieSiblings returns the dead, unreaped children of the parent.
func (c *zombieCase) zombieSiblings() []int {
	if c.parent == nil {
		return nil
	}
	return zombieChildren(c.procRoot, c.parent.pid)
}

// comm returns " (comm)" for a process, or "" when unknown.
func (c *zombieCase) comm(p *report.Process) string {
	if p == nil || p.Comm == "" {
		return ""
	}
	return " (" + p.Comm + ")"
}

func joinInts(values []int) string {
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, ", ")
}
