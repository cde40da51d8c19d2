package tracker

import (
	"github.com/zombietrace/zombietrace/internal/event"
)

// process is the tracker's state of one process. Pointers to
// other processes keep their details readable after those are freed.
type process struct {
	key       event.Key
	startNs   uint64 // boot-clock start time
	pids      event.PIDChain
	comm      string
	args      []string
	truncated bool
	cgroupID  uint64
	// subreaper is the parent-side flag last seen for this process.
	subreaper bool

	// lineage holds the creators, nearest first, as they were when this
	// process was created.
	lineage        []ancestor
	creator        *process
	parent         *process // the real parent now
	originalParent *process
	handovers      []handover

	exited     bool
	groupDead  bool
	exitNs     uint64
	exitCode   uint32
	exitSignal uint32
	// parentState is the parent's SIGCHLD handling at the death, or at the
	// latest handover.
	parentState event.ParentState
	// delivery is the signal_generate result of the latest signal about
	// this death, or -1 when none was seen.
	delivery int32

	lingering bool // stayed a zombie past the minimum age
	// threadsReported is set once the leader was reported as exited while
	// other threads of its process still ran.
	threadsReported bool
	tracer          *process // ptrace tracer at death, if not the parent
	reported        bool     // a lingering record was written
	foundAtStart    bool
	// recovered is set for a zombie found by a /proc scan after the kernel
	// lost events, whose death time is unknown.
	recovered bool
	reapedBy  *process
	reapedNs  uint64
	freed     bool
	// waits are this process's own recent wait calls, as a parent.
	waits *waitLog
	// blindReapNs is when a waitid call of this process that began before
	// the probe was attached returned a child whose PID was not captured.
	blindReapNs uint64
}

type handover struct {
	timeNs uint64 // 0 when unknown
	from   *process
	to     *process
	dead   bool
}

// maxLineage is how many creators a process keeps in its lineage.
const maxLineage = 8

// ancestor is a copy of what a lineage shows of a creator.
type ancestor struct {
	pid   uint32
	nsPID uint32
	comm  string
	args  []string
}

func (p *process) asAncestor() ancestor {
	return ancestor{pid: p.key.PID, nsPID: p.pids.OwnNR, comm: p.comm, args: p.args}
}

// inheritLineage sets p's lineage to its creator followed by the
// creator's own lineage, cut at maxLineage.
func (p *process) inheritLineage(creator *process) {
	n := min(len(creator.lineage), maxLineage-1)
	p.lineage = make([]ancestor, 0, n+1)
	p.lineage = append(p.lineage, creator.asAncestor())
	p.lineage = append(p.lineage, creator.lineage[:n]...)
}

func newProcess(ref event.ProcRef) *process {
	return &process{key: ref.Key(), startNs: ref.StartNs, delivery: -1}
}

// zombie reports whether the process is dead, can be reaped, and was not.
func (p *process) zombie() bool {
	return p.exited && p.groupDead && !p.freed && p.reapedNs == 0
}

// release drops the links to other processes once p is gone, so that a
// long line of dead ancestors is not kept in memory.
func (p *process) release() {
	p.creator = nil
	p.originalParent = nil
	p.handovers = nil
	p.parent = nil
	p.reapedBy = nil
	p.tracer = nil
}
