package tracker

import (
	"github.com/zombietrace/zombietrace/internal/event"
)

func (t *Tracker) handleFork(e *event.Fork) {
	p := newProcess(e.Proc)
	p.pids = e.PIDs
	p.comm = e.Comm
	p.cgroupID = e.CgroupID
	p.parent = t.lookup(e.Parent)
	p.originalParent = p.parent
	p.creator = t.lookup(e.Creator)
	// A child inherits the command line until it calls exec.
	if p.creator != nil {
		p.args = p.creator.args
		p.truncated = p.creator.truncated
		p.inheritLineage(p.creator)
	}
	t.add(p)
}

func (t *Tracker) handleExec(e *event.Exec) {
	p := t.lookup(e.Proc)
	if p == nil {
		return
	}
	p.pids = e.PIDs
	p.comm = e.Comm
	p.cgroupID = e.CgroupID
	p.args = e.Args
	p.truncated = e.Truncated
	// The new program has its own way of waiting, so the calls of a shell
	// wrapper that waited for any child before exec do not describe it.
	p.waits = nil
	p.blindReapNs = 0
}

func (t *Tracker) handleExit(e *event.Exit) {
	p := t.lookup(e.Proc)
	if p == nil {
		return
	}
	p.pids = e.PIDs
	p.comm = e.Comm
	p.cgroupID = e.CgroupID
	parent := t.lookup(e.Parent)
	if parent != nil && p.parent != nil && parent != p.parent {
		// The parent exited while p was alive and the kernel gave p to a
		// reaper; the handover happened when the old parent exited.
		t.addHandover(p, p.parent, parent, p.parent.exitNs, false)
	}
	if parent != nil {
		p.parent = parent
		parent.subreaper = e.ParentState.Subreaper
	}
	if p.originalParent == nil {
		p.originalParent = p.parent
	}
	if !p.exited {
		p.exited = true
		p.exitNs = e.TimeNs
		if !e.GroupDead() {
			// The leader shows as a zombie while its threads run on.
			t.queueCheck(p, e.TimeNs)
		}
	}
	if e.Flags&event.ExitPtraced != 0 && e.Tracer != e.Parent {
		p.tracer = t.lookup(e.Tracer)
	}
	p.exitCode = e.ExitCode
	p.exitSignal = e.ExitSignal
	p.parentState = e.ParentState
	if e.GroupDead() && !p.groupDead {
		p.groupDead = true
		t.addChild(p)
		t.queueCheck(p, e.TimeNs)
	}
}

func (t *Tracker) queueCheck(p *process, exitNs uint64) {
	t.pending = append(t.pending, pendingCheck{
		deadlineNs: exitNs + uint64(t.cfg.MinAge),
		key:        keyOf(p.key),
	})
}

func (t *Tracker) handleChildSignal(e *event.ChildSignal) {
	if e.Self {
		p := t.procs[refKey(e.Proc)]
		if p != nil && p.exited {
			p.delivery = e.Result
		}
		return
	}
	// A dying parent hands a dead child to a new parent, or a tracer
	// detaches from a dead tracee and the kernel notifies its real parent.
	sender, target := refKey(e.Proc), refKey(e.Target)
	p := t.findChild(sender, e.TargetState.PIDLevel, e.ChildNSPID)
	if p == nil {
		if p = t.findChild(target, e.TargetState.PIDLevel, e.ChildNSPID); p != nil {
			p.delivery = e.Result
		}
		return
	}
	to := t.lookup(e.Target)
	if to == nil {
		return
	}
	to.subreaper = e.TargetState.Subreaper
	t.removeChild(p)
	t.addHandover(p, p.parent, to, e.TimeNs, true)
	p.parent = to
	p.parentState = e.TargetState
	p.delivery = e.Result
	t.addChild(p)
	if !p.lingering {
		return
	}
	if p.reported {
		t.stats.HandedOver++
		t.cfg.Emit(t.handedOverRecord(p))
		return
	}
	// The zombie may now be under the parent that --pid selects.
	t.reportLingering(p, t.clock.wall(e.TimeNs))
}

func (t *Tracker) handleWait(e *event.Wait) {
	waiter := t.lookup(e.Proc)
	if waiter == nil {
		return
	}
	byAction := t.injected(waiter, e)
	if !byAction {
		if waiter.waits == nil {
			waiter.waits = &waitLog{}
		}
		waiter.waits.add(e)
	}
	child := e.ChildPID
	switch {
	case reapedChild(e):
	case e.ArgsUnknown && e.Syscall == event.SyscallWaitid && e.Return == 0:
		waiter.blindReapNs = e.TimeNs
		return
	case nullInfopReap(e) && e.IDType == idPID:
		child = int32(e.ID)
	case nullInfopReap(e):
		waiter.blindReapNs = e.TimeNs
		return
	default:
		return
	}
	p := t.findChild(keyOf(waiter.key), e.PIDLevel, child)
	if p == nil {
		return
	}
	t.reportOverdue(p, e.TimeNs)
	p.reapedBy = waiter
	p.reapedNs = e.TimeNs
	t.removeChild(p)
	if p.reported {
		note := ""
		if byAction {
			note = noteActionReap
		}
		t.stats.Reaped++
		t.cfg.Emit(t.reapedRecord(p, note))
	}
}

// noteActionReap explains a reap by the call that --action reap injected.
const noteActionReap = "reaped by the waitid call that zombietrace's --action reap made its parent run"

// injected reports whether e is a waitid call that zombietrace's reaper
// made waiter run.
func (t *Tracker) injected(waiter *process, e *event.Wait) bool {
	if t.cfg.Injected == nil || e.Syscall != event.SyscallWaitid || e.IDType != idPID || e.ArgsUnknown {
		return false
	}
	pid, ok := t.visiblePID(waiter)
	return ok && t.cfg.Injected(pid, int(e.ID), e.Options)
}

func (t *Tracker) handleFree(e *event.Free) {
	key := refKey(e.Proc)
	p := t.procs[key]
	if p == nil {
		return
	}
	p.freed = true
	delete(t.procs, key)
	if t.current[p.key.PID] == p {
		delete(t.current, p.key.PID)
	}
	delete(t.children, key)
	t.removeChild(p)
	if p.reapedNs == 0 {
		t.reportOverdue(p, e.TimeNs)
	}
	if p.reported && p.reapedNs == 0 {
		note := releaseNote(p)
		if p.parent != nil && p.exited && p.parent.blindReapNs >= p.exitNs {
			p.reapedBy, p.reapedNs = p.parent, p.parent.blindReapNs
			note = noteBlindWait
		}
		t.stats.Reaped++
		t.cfg.Emit(t.reapedRecord(p, note))
	}
	p.release()
}

// noteBlindWait explains a reap by a waitid call whose reaped PID was not
// captured.
const noteBlindWait = "reaped by a waitid call of its parent that did not show " +
	"which child it reaped: the call passed no infop, or began before zombietrace attached"

// releaseNote explains how a zombie left when no wait call reaped it.
func releaseNote(p *process) string {
	switch {
	case p.parent != nil && p.parent.exited && p.parent.pids.OwnNR == 1:
		return "reaped by the kernel when its parent, PID 1 of its PID namespace, " +
			"exited and the namespace was torn down"
	case p.parent != nil && p.parent.exited:
		return "released after its parent exited: the new parent ignores SIGCHLD"
	}
	return "freed without a wait call seen: a wait that zombietrace does not " +
		"trace (io_uring, a 32-bit syscall), or lost events"
}

func (t *Tracker) add(p *process) {
	t.procs[keyOf(p.key)] = p
	t.current[p.key.PID] = p
}

func (t *Tracker) addHandover(p, from, to *process, timeNs uint64, dead bool) {
	p.handovers = append(p.handovers, handover{timeNs: timeNs, from: from, to: to, dead: dead})
}

func (t *Tracker) addChild(p *process) {
	if p.parent == nil {
		return
	}
	parent := keyOf(p.parent.key)
	set := t.children[parent]
	if set == nil {
		set = make(map[procKey]*process)
		t.children[parent] = set
	}
	set[keyOf(p.key)] = p
}

func (t *Tracker) removeChild(p *process) {
	if p.parent == nil {
		return
	}
	// An empty set stays until its parent is freed, because a parent that
	// forks in a loop would otherwise make a new map for every child.
	delete(t.children[keyOf(p.parent.key)], keyOf(p.key))
}

// findChild returns the dead child of parent whose PID at a namespace
// level is nr.
func (t *Tracker) findChild(parent procKey, level uint32, nr int32) *process {
	for _, c := range t.children[parent] {
		if got, ok := c.pids.At(level); ok && int32(got) == nr {
			return c
		}
	}
	return nil
}
