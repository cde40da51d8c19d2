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
	lineage        *lineageNode
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

// lineageNode is one creator in a lineage. Children share the nodes of
// their creator's lineage, so a fork adds one node instead of a copy.
type lineageNode struct {
	ancestor
	next  *lineageNode
	depth int // nodes from this one to the end, itself included
}

// inheritLineage sets p's lineage to its creator followed by the
// creator's own lineage. A creator whose lineage reached maxLineage has it
// cut once, by copying its first nodes, so that a long line of forks does
// not keep every dead ancestor's node in memory.
func (p *process) inheritLineage(creator *process) {
	if creator.lineage != nil && creator.lineage.depth >= maxLineage {
		creator.lineage = cutLineage(creator.lineage, maxLineage-1)
	}
	p.lineage = newLineage(creator.asAncestor(), creator.lineage)
}

// newLineage puts first in front of rest.
func newLineage(first ancestor, rest *lineageNode) *lineageNode {
	depth := 1
	if rest != nil {
		depth += rest.depth
	}
	return &lineageNode{ancestor: first, next: rest, depth: depth}
}

func cutLineage(l *lineageNode, n int) *lineageNode {
	if l == nil || n == 0 {
		return nil
	}
	return newLineage(l.ancestor, cutLineage(l.next, n-1))
}

// ancestors returns the lineage as a slice, nearest first.
func (l *lineageNode) ancestors() []ancestor {
	var out []ancestor
	for ; l != nil && len(out) < maxLineage; l = l.next {
		out = append(out, l.ancestor)
	}
	return out
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
