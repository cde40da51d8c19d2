// Package tracker follows processes through the kernel events that the
// probe reports and decides which dead processes linger as zombies: who
// they were, who made them, who holds them, and what the holder did.
package tracker

import (
	"log/slog"
	"time"

	"github.com/zombietrace/zombietrace/internal/cgroup"
	"github.com/zombietrace/zombietrace/internal/event"
	"github.com/zombietrace/zombietrace/internal/report"
)

// DefaultMinAge is how long a dead process may stay unreaped before it is
// reported. A parent that reaps its children does so within milliseconds;
// five seconds leaves room for a busy or briefly stopped parent.
const DefaultMinAge = 5 * time.Second

// Config configures a Tracker.
type Config struct {
	// MinAge is how long a zombie must stay unreaped to be reported.
	MinAge time.Duration
	// ParentPID, when not zero, limits records to zombies whose parent has
	// this PID in zombietrace's PID namespace.
	ParentPID uint32
	// ProcRoot is the procfs mount point, normally "/proc".
	ProcRoot string
	// Emit receives every record. It is called from the goroutine that
	// calls Handle, Expire or ScanExisting.
	Emit   func(report.Record)
	Logger *slog.Logger
	// Injected, if set, reports whether a waitid(P_PID, childNS) call
	// with these options in the process parent (a PID in zombietrace's
	// namespace) was made by zombietrace's reaper. Such calls stay out of
	// the parent's wait history.
	Injected func(parent, childNS int, options uint32) bool
}

// Stats counts what the tracker has seen since it started.
type Stats struct {
	Lingering    int // zombies reported as lingering, found at start included
	FoundAtStart int
	Reaped       int // reported zombies that were later reaped or released
	HandedOver   int // reported zombies handed to a new parent
	Zombies      int // zombies still lingering now
	Processes    int // processes tracked now
}

// Tracker is the state machine. It is not safe for concurrent use: feed it
// from one goroutine.
type Tracker struct {
	cfg     Config
	clock   clock
	view    namespaceView
	procs   map[procKey]*process
	current map[uint32]*process // latest process of each host PID
	// children holds, per parent, its children that have exited but not
	// yet been reaped or freed.
	children map[procKey]map[procKey]*process
	pending  []pendingCheck
	cgroups  *cgroup.Resolver // nil when no cgroup2 is mounted
	stats    Stats
}

// pendingCheck names a dead process by key rather than by pointer. Under a
// storm of promptly reaped children, the queue then has no pointers for
// the garbage collector to scan, and the freed children are not kept
// alive until their --min-age passes.
type pendingCheck struct {
	deadlineNs uint64
	key        procKey
}

// procKey packs an event.Key into one word, because Go's maps hash a word
// several times faster than a struct and the tracker looks up a dozen keys
// per fork. Host PIDs stay below 1<<22 (PID_MAX_LIMIT). Start times in
// clock ticks fit in the other 42 bits for over a thousand years.
type procKey uint64

func keyOf(k event.Key) procKey { return procKey(k.StartTicks<<22 | uint64(k.PID)) }

func refKey(r event.ProcRef) procKey { return keyOf(r.Key()) }

// New returns a tracker. It reads the boot clock and zombietrace's own PID
// namespace, so it must run on the machine being traced.
func New(cfg Config) (*Tracker, error) {
	if cfg.ProcRoot == "" {
		cfg.ProcRoot = "/proc"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Emit == nil {
		cfg.Emit = func(report.Record) {}
	}
	c, err := newClock(cfg.ProcRoot)
	if err != nil {
		return nil, err
	}
	view, err := newNamespaceView(cfg.ProcRoot)
	if err != nil {
		return nil, err
	}
	cgroups, err := cgroup.NewResolver(cfg.ProcRoot + "/self/mountinfo")
	if err != nil {
		cfg.Logger.Warn("cgroup paths unavailable", "error", err)
		cgroups = nil
	}
	return &Tracker{
		cgroups:  cgroups,
		cfg:      cfg,
		clock:    c,
		view:     view,
		procs:    make(map[procKey]*process),
		current:  make(map[uint32]*process),
		children: make(map[procKey]map[procKey]*process),
	}, nil
}

// Stats returns the counters.
func (t *Tracker) Stats() Stats {
	s := t.stats
	s.Processes = len(t.procs)
	for _, p := range t.procs {
		if p.reported && p.zombie() {
			s.Zombies++
		}
	}
	return s
}

// Handle applies one event.
func (t *Tracker) Handle(ev event.Event) {
	switch e := ev.(type) {
	case *event.Fork:
		t.handleFork(e)
	case *event.Exec:
		t.handleExec(e)
	case *event.Exit:
		t.handleExit(e)
	case *event.ChildSignal:
		t.handleChildSignal(e)
	case *event.Wait:
		t.handleWait(e)
	case *event.Free:
		t.handleFree(e)
	}
}

// NextDeadline returns when Expire next has work to do, and false when
// no dead process is waiting for its check. It drops the checks at the
// head of the queue whose process was reaped or freed already, so that a
// storm of promptly reaped children does not wake the caller once per
// child.
func (t *Tracker) NextDeadline() (time.Time, bool) {
	for len(t.pending) > 0 {
		p := t.procs[t.pending[0].key]
		if p != nil && p.reapedNs == 0 {
			return t.clock.wall(t.pending[0].deadlineNs), true
		}
		t.pending = t.pending[1:]
	}
	return time.Time{}, false
}

// Expire reports every dead process whose minimum age has passed and that
// /proc still shows as a zombie.
func (t *Tracker) Expire(now time.Time) {
	nowNs := t.clock.bootNs(now)
	for len(t.pending) > 0 && t.pending[0].deadlineNs <= nowNs {
		p := t.procs[t.pending[0].key]
		t.pending = t.pending[1:]
		if p != nil {
			t.check(p, now)
		}
	}
}

func (t *Tracker) check(p *process, now time.Time) {
	if p.freed || p.reapedNs != 0 || !t.confirmZombie(p) {
		return
	}
	if !p.groupDead {
		if !p.threadsReported && t.matchesFilter(p) {
			p.threadsReported = true
			r := t.record(report.TypeLingering, p, now)
			r.ThreadsAlive = true
			t.cfg.Emit(r)
		}
		return
	}
	if !p.lingering {
		p.lingering = true
		t.reportLingering(p, now)
	}
}

// reportOverdue reports a zombie that outlived --min-age but whose reap
// or free, at endNs, arrived before its check ran. The loop runs the
// checks between batches of events, so the event that ends a zombie can
// come first, and the check then finds it gone.
func (t *Tracker) reportOverdue(p *process, endNs uint64) {
	if p.lingering || !p.exited || !p.groupDead {
		return
	}
	deadline := p.exitNs + uint64(t.cfg.MinAge)
	if endNs < deadline {
		return
	}
	p.lingering = true
	t.reportLingering(p, t.clock.wall(deadline))
}

func (t *Tracker) reportLingering(p *process, at time.Time) {
	if p.reported || !t.matchesFilter(p) {
		return
	}
	p.reported = true
	t.stats.Lingering++
	if p.foundAtStart {
		t.stats.FoundAtStart++
	}
	t.cfg.Emit(t.record(report.TypeLingering, p, at))
}

func (t *Tracker) matchesFilter(p *process) bool {
	if t.cfg.ParentPID == 0 {
		return true
	}
	if p.parent == nil {
		return false
	}
	pid, ok := t.visiblePID(p.parent)
	return ok && uint32(pid) == t.cfg.ParentPID
}
