package tracker

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zombietrace/zombietrace/internal/event"
	"github.com/zombietrace/zombietrace/internal/procfs"
)

// clock converts the kernel's boot-clock nanoseconds to wall time.
type clock struct {
	offset time.Time // wall time at boot
}

func newClock(string) (clock, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return clock{}, fmt.Errorf("read boot clock: %w", err)
	}
	return clock{offset: time.Now().Add(-time.Duration(ts.Nano()))}, nil
}

func (c clock) wall(bootNs uint64) time.Time { return c.offset.Add(time.Duration(bootNs)) }

func (c clock) bootNs(wall time.Time) uint64 {
	d := wall.Sub(c.offset)
	if d < 0 {
		return 0
	}
	return uint64(d)
}

// namespaceView maps kernel PIDs to the PIDs of zombietrace's own PID
// namespace, in which it reads /proc and prints PIDs.
type namespaceView struct {
	level uint32 // depth of zombietrace's PID namespace; 0 on the host
}

func newNamespaceView(root string) (namespaceView, error) {
	self, err := procfs.ReadStatus(root, unix.Getpid())
	if err != nil {
		return namespaceView{}, fmt.Errorf("read own PID namespace: %w", err)
	}
	level := 0
	if n := len(self.NSpid); n > 0 {
		level = n - 1
	}
	return namespaceView{level: uint32(level)}, nil
}

// pid returns the PID of a process in zombietrace's namespace, and false
// when the process is in a namespace that zombietrace cannot see into.
//
// NOTE: below the host namespace, a process in a sibling namespace tree at
// the same depth is not distinguished, because only the inode of the
// process's own namespace is recorded.
func (v namespaceView) pid(chain event.PIDChain) (uint32, bool) {
	if chain.Level < v.level {
		return 0, false
	}
	return chain.At(v.level)
}

func (t *Tracker) visiblePID(p *process) (int, bool) {
	if p.pids.Known == 0 && t.view.level == 0 {
		return int(p.key.PID), true
	}
	pid, ok := t.view.pid(p.pids)
	return int(pid), ok
}

// lookup returns the tracked process for ref, reading /proc for one that
// started before zombietrace.
func (t *Tracker) lookup(ref event.ProcRef) *process {
	if ref.PID == 0 {
		return nil
	}
	if p := t.procs[refKey(ref)]; p != nil {
		return p
	}
	p := newProcess(ref)
	if t.view.level == 0 {
		t.loadFromProc(p, int(ref.PID))
	}
	t.add(p)
	return p
}

// loadFromProc fills in what /proc shows of a process, if the PID still
// belongs to it.
func (t *Tracker) loadFromProc(p *process, pid int) bool {
	stat, err := procfs.ReadStat(t.cfg.ProcRoot, pid)
	if err != nil || stat.StartTicks != p.key.StartTicks {
		return false
	}
	p.comm = stat.Comm
	if status, err := procfs.ReadStatus(t.cfg.ProcRoot, pid); err == nil {
		p.pids = chainFromNSpid(status.NSpid, t.view.level)
	}
	if ns, err := procfs.PIDNamespaceInode(t.cfg.ProcRoot, pid); err == nil {
		p.pids.NSInode = uint32(ns)
	}
	if args, err := procfs.ReadCmdline(t.cfg.ProcRoot, pid); err == nil && len(args) > 0 {
		p.args, p.truncated = capArgs(args)
	}
	p.lineage = t.lineageFromProc(stat.PPID)
	return true
}

// lineageFromProc reads the line of parents of a process that started
// before zombietrace, from /proc. For those, the parents stand in for the
// creators, which /proc does not record.
func (t *Tracker) lineageFromProc(ppid int) *lineageNode {
	var line []ancestor
	var known *lineageNode
	for ppid > 0 && len(line) < maxLineage {
		// A parent that is tracked already has its line, so /proc is not
		// read again for each of its ancestors.
		if p := t.current[uint32(ppid)]; p != nil && p.comm != "" {
			known = newLineage(p.asAncestor(), p.lineage)
			break
		}
		stat, err := procfs.ReadStat(t.cfg.ProcRoot, ppid)
		if err != nil {
			break
		}
		a := ancestor{pid: uint32(ppid), nsPID: uint32(ppid), comm: stat.Comm}
		if status, err := procfs.ReadStatus(t.cfg.ProcRoot, ppid); err == nil && len(status.NSpid) > 0 {
			a.nsPID = uint32(status.NSpid[len(status.NSpid)-1])
		}
		args, _ := procfs.ReadCmdline(t.cfg.ProcRoot, ppid)
		a.args, _ = capArgs(args)
		line = append(line, a)
		ppid = stat.PPID
	}
	l := known
	for i := len(line) - 1; i >= 0; i-- {
		l = newLineage(line[i], l)
	}
	return l
}

// maxArgsBytes matches the kernel side, which copies 512 bytes of a command
// line at exec, so that a command line read from /proc is no longer.
const maxArgsBytes = 512

// capArgs cuts a command line to maxArgsBytes, counting a NUL after each
// argument as the kernel does, and reports whether it cut anything.
func capArgs(args []string) ([]string, bool) {
	n := 0
	for i, a := range args {
		if n+len(a)+1 > maxArgsBytes {
			out := append([]string(nil), args[:i]...)
			if rest := maxArgsBytes - n; rest > 0 {
				out = append(out, a[:rest])
			}
			return out, true
		}
		n += len(a) + 1
	}
	return args, false
}

// chainFromNSpid converts the NSpid line of /proc/PID/status, which starts
// at the reader's namespace, into a chain that starts at the host's.
func chainFromNSpid(nspid []int, ownLevel uint32) event.PIDChain {
	if len(nspid) == 0 {
		return event.PIDChain{}
	}
	level := ownLevel + uint32(len(nspid)) - 1
	c := event.PIDChain{Level: level, OwnNR: uint32(nspid[len(nspid)-1])}
	if ownLevel == 0 {
		for i := 0; i < len(nspid) && i < len(c.NR); i++ {
			c.NR[i] = uint32(nspid[i])
			c.Known++
		}
	}
	return c
}

// confirmZombie checks in /proc that the process still exists, is the same
// process, and is a zombie.
func (t *Tracker) confirmZombie(p *process) bool {
	pid, ok := t.visiblePID(p)
	if !ok {
		return false
	}
	stat, err := procfs.ReadStat(t.cfg.ProcRoot, pid)
	return err == nil && stat.State == 'Z' && stat.StartTicks == p.key.StartTicks
}

// ScanExisting reports the zombies that exist in /proc, as found at start.
// Call it after the probe is attached, so that nothing is missed between
// the scan and the first event.
func (t *Tracker) ScanExisting() error {
	if t.view.level != 0 {
		// NOTE: inside a PID namespace, /proc PIDs cannot be mapped to the
		// kernel's host PIDs, so zombies found at start are not reported.
		return nil
	}
	zombies, err := procfs.Zombies(t.cfg.ProcRoot)
	if err != nil {
		return fmt.Errorf("scan for existing zombies: %w", err)
	}
	// A zombie in /proc may have died a moment ago, with its parent about
	// to reap it. So it is checked again after the minimum age, and
	// reported only if it is still there.
	now := t.clock.bootNs(time.Now())
	for _, z := range zombies {
		if p := t.addScannedZombie(z); p != nil {
			p.exitNs = now
			t.queueCheck(p, now)
		}
	}
	return nil
}

// addScannedZombie starts tracking a zombie that /proc shows and the
// tracker did not see die. It returns nil for one already tracked.
func (t *Tracker) addScannedZombie(z procfs.Process) *process {
	key := event.Key{PID: uint32(z.Stat.PID), StartTicks: z.Stat.StartTicks}
	if p := t.procs[keyOf(key)]; p != nil && p.exited {
		return nil
	}
	p := newProcess(event.ProcRef{PID: key.PID, StartNs: key.StartTicks * uint64(10*time.Millisecond)})
	p.comm = z.Stat.Comm
	p.pids = chainFromNSpid(z.Status.NSpid, 0)
	// The action engine needs the namespace to find the PID that the
	// parent's wait call takes.
	if ns, err := procfs.PIDNamespaceInode(t.cfg.ProcRoot, z.Stat.PID); err == nil {
		p.pids.NSInode = uint32(ns)
	}
	p.exited = true
	// The kernel counts a zombie leader among the threads of its process.
	p.groupDead = z.Status.Threads <= 1
	p.foundAtStart = true
	p.parent = t.lookupPID(z.Stat.PPID)
	p.originalParent = p.parent
	t.add(p)
	if p.groupDead {
		t.addChild(p)
	}
	return p
}

// Resync reconciles the tracker with /proc after the kernel lost events.
// Zombies whose death was not seen are tracked from now on and reported
// after the minimum age. Dead processes that left /proc unseen are dropped,
// with a reaped record for those already reported.
func (t *Tracker) Resync(now time.Time) error {
	if t.view.level != 0 {
		return nil
	}
	zombies, err := procfs.Zombies(t.cfg.ProcRoot)
	if err != nil {
		return fmt.Errorf("resync from /proc: %w", err)
	}
	present := make(map[event.Key]bool, len(zombies))
	for _, z := range zombies {
		present[event.Key{PID: uint32(z.Stat.PID), StartTicks: z.Stat.StartTicks}] = true
		if p := t.addScannedZombie(z); p != nil {
			p.foundAtStart = false
			p.recovered = true
			p.exitNs = t.clock.bootNs(now)
			t.queueCheck(p, p.exitNs)
		}
	}
	var gone []*process
	for _, set := range t.children {
		for _, p := range set {
			if !present[p.key] {
				gone = append(gone, p)
			}
		}
	}
	for _, p := range gone {
		t.handleFree(&event.Free{Header: event.Header{
			TimeNs: t.clock.bootNs(now),
			Proc:   event.ProcRef{PID: p.key.PID, StartNs: p.startNs},
		}})
	}
	return nil
}

// lookupPID returns the process that has a host PID now, from /proc.
func (t *Tracker) lookupPID(pid int) *process {
	if pid <= 0 {
		return nil
	}
	stat, err := procfs.ReadStat(t.cfg.ProcRoot, pid)
	if err != nil {
		return nil
	}
	ticks := uint64(10 * time.Millisecond)
	return t.lookup(event.ProcRef{PID: uint32(pid), StartNs: stat.StartTicks * ticks})
}
