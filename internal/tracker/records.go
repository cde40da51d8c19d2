package tracker

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/zombietrace/zombietrace/internal/procfs"
	"github.com/zombietrace/zombietrace/internal/report"
)

func (t *Tracker) handedOverRecord(p *process) report.Record {
	last := p.handovers[len(p.handovers)-1]
	return t.record(report.TypeHandedOver, p, t.clock.wall(last.timeNs))
}

func (t *Tracker) reapedRecord(p *process, note string) report.Record {
	at := time.Now()
	if p.reapedNs != 0 {
		at = t.clock.wall(p.reapedNs)
	}
	r := t.record(report.TypeReaped, p, at)
	if p.reapedBy != nil {
		r.ReapedBy = t.describe(p.reapedBy)
	}
	r.ReapNote = note
	return r
}

func (t *Tracker) record(typ string, p *process, at time.Time) report.Record {
	r := report.Record{
		Type:         typ,
		Time:         at,
		Zombie:       *t.describe(p),
		Parent:       t.describeLive(p.parent),
		CgroupID:     p.cgroupID,
		FoundAtStart: p.foundAtStart,
		Recovered:    p.recovered,
	}
	if p.foundAtStart || p.recovered {
		// The death was not seen: exitNs is when the scan found the
		// zombie, so the age is a lower bound, and the waits, listed
		// only when there were any, are those since then.
		r.AgeSeconds = at.Sub(t.clock.wall(p.exitNs)).Seconds()
		if w := t.waitsSince(p); w != nil && w.Calls > 0 {
			r.Waits = w
		}
	} else {
		died := t.clock.wall(p.exitNs)
		r.DiedAt = &died
		r.AgeSeconds = at.Sub(died).Seconds()
		r.Exit = exitStatus(p.exitCode)
		r.SIGCHLD = sigchld(p)
		r.Waits = t.waitsSince(p)
	}
	if p.originalParent != nil && p.originalParent != p.parent {
		r.OriginalParent = t.describe(p.originalParent)
	}
	if p.creator != nil && p.creator != p.originalParent {
		r.Creator = t.describe(p.creator)
	}
	for _, a := range p.lineage.ancestors() {
		r.Lineage = append(r.Lineage, report.Ancestor{PID: a.pid, NSPID: a.nsPID, Comm: a.comm, Cmdline: a.args})
	}
	r.Origin = originOf(p)
	for _, h := range p.handovers {
		r.Handovers = append(r.Handovers, t.describeHandover(h))
	}
	r.Tracer = t.describe(p.tracer)
	if t.cgroups != nil {
		r.Cgroup, _ = t.cgroups.Path(p.cgroupID)
	}
	return r
}

func (t *Tracker) describe(p *process) *report.Process {
	if p == nil {
		return nil
	}
	pid, _ := t.visiblePID(p)
	d := &report.Process{
		PID:              uint32(pid),
		NSPID:            p.pids.OwnNR,
		PIDNamespace:     p.pids.NSInode,
		StartTime:        t.clock.wall(p.startNs),
		Comm:             p.comm,
		Cmdline:          p.args,
		CmdlineTruncated: p.truncated,
		NSInit:           p.pids.OwnNR == 1,
		Subreaper:        p.subreaper,
		Exited:           p.exited,
	}
	if d.NSPID == 0 {
		d.NSPID = d.PID
	}
	return d
}

// describeLive describes a process that may still run, with the comm that
// /proc shows now, and keeps that comm for later records. The events give
// comm only at fork, exec and exit, and a running parent can rename itself
// (prctl PR_SET_NAME).
func (t *Tracker) describeLive(p *process) *report.Process {
	d := t.describe(p)
	if d == nil || p.exited || d.PID == 0 {
		return d
	}
	if stat, err := procfs.ReadStat(t.cfg.ProcRoot, int(d.PID)); err == nil && stat.StartTicks == p.key.StartTicks {
		p.comm = stat.Comm
		d.Comm = stat.Comm
	}
	return d
}

func (t *Tracker) describeHandover(h handover) report.Handover {
	out := report.Handover{Dead: h.dead}
	if h.timeNs != 0 {
		at := t.clock.wall(h.timeNs)
		out.Time = &at
	}
	if d := t.describe(h.from); d != nil {
		out.From = *d
	}
	if d := t.describe(h.to); d != nil {
		out.To = *d
	}
	return out
}

// exitStatus decodes a wait status word.
func exitStatus(status uint32) *report.ExitStatus {
	sig := status & 0x7f
	if sig == 0 {
		code := int(status>>8) & 0xff
		return &report.ExitStatus{Code: &code}
	}
	return &report.ExitStatus{
		Signal:     unix.SignalName(unix.Signal(sig)),
		CoreDumped: status&0x80 != 0,
	}
}

// Signal action flags, from include/uapi/asm-generic/signal-defs.h.
const (
	saNoCldStop = 0x00000001
	saNoCldWait = 0x00000002
	saSigInfo   = 0x00000004
	saRestart   = 0x10000000
)

// deliveryNames are the results of the signal_generate tracepoint.
var deliveryNames = map[int32]string{
	0: "delivered",
	1: "ignored",
	2: "already_pending",
	3: "overflow",
	4: "info_lost",
}

func sigchld(p *process) *report.SIGCHLD {
	s := p.parentState
	out := &report.SIGCHLD{Blocked: s.SigchldBlocked}
	switch s.SigchldHandler {
	case 0:
		out.Disposition = "default"
	case 1:
		out.Disposition = "ignore"
	default:
		out.Disposition = "handler"
	}
	for _, f := range []struct {
		bit  uint64
		name string
	}{{saNoCldStop, "SA_NOCLDSTOP"}, {saNoCldWait, "SA_NOCLDWAIT"}, {saSigInfo, "SA_SIGINFO"}, {saRestart, "SA_RESTART"}} {
		if s.SigchldFlags&f.bit != 0 {
			out.Flags = append(out.Flags, f.name)
		}
	}
	switch {
	case p.exitSignal == 0:
		out.Delivery = "none"
	case p.delivery >= 0:
		out.Delivery = deliveryNames[p.delivery]
	}
	return out
}

// recentWaits is how many of the parent's wait calls a record lists.
const recentWaits = 5

func (t *Tracker) waitsSince(p *process) *report.Waits {
	if p.parent == nil {
		return nil
	}
	calls := p.parent.waits.since(p.exitNs)
	nr, _ := p.pids.At(p.parent.pids.Level)
	w := &report.Waits{Summary: summarizeWaits(calls, nr), Calls: len(calls)}
	if log := p.parent.waits; log != nil {
		w.History = &report.WaitHistory{
			Calls:        log.total,
			AnyChild:     log.anyChild,
			SpecificPIDs: log.specific,
			Since:        t.clock.wall(log.firstNs),
		}
	}
	for _, c := range calls[max(0, len(calls)-recentWaits):] {
		w.Recent = append(w.Recent, report.WaitCall{
			Time:    t.clock.wall(c.TimeNs),
			Syscall: map[uint32]string{1: "wait4", 2: "waitid"}[c.Syscall],
			Target:  formatTarget(&c),
			Options: formatOptions(c.Options),
			Return:  c.Return,
			Child:   c.ChildPID,
		})
	}
	return w
}
