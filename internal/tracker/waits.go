package tracker

import (
	"fmt"

	"github.com/zombietrace/zombietrace/internal/event"
	"github.com/zombietrace/zombietrace/internal/report"
)

// waitLogSize is how many recent wait calls are kept per process.
const waitLogSize = 16

// waitLog keeps the recent wait calls of one process in a ring.
type waitLog struct {
	calls [waitLogSize]event.Wait
	total int // calls ever added; calls[(total-1)%size] is the newest
	// anyChild and specific count calls by what they wait for.
	anyChild int
	specific int
	firstNs  uint64
}

func (l *waitLog) add(e *event.Wait) {
	if l.total == 0 {
		l.firstNs = e.TimeNs
	}
	l.calls[l.total%waitLogSize] = *e
	l.total++
	if e.ArgsUnknown {
		return
	}
	switch kind, _ := waitTarget(e); kind {
	case idPID, idPIDFD:
		l.specific++
	default:
		l.anyChild++
	}
}

// since returns the kept calls that ended at or after timeNs, oldest
// first. When the ring has dropped calls, there may have been more.
func (l *waitLog) since(timeNs uint64) []event.Wait {
	if l == nil {
		return nil
	}
	kept := min(l.total, waitLogSize)
	var out []event.Wait
	for i := l.total - kept; i < l.total; i++ {
		c := l.calls[i%waitLogSize]
		if c.TimeNs >= timeNs {
			out = append(out, c)
		}
	}
	return out
}

// Wait options, from include/uapi/linux/wait.h.
const (
	optWNOHANG    = 0x00000001
	optWUNTRACED  = 0x00000002
	optWEXITED    = 0x00000004
	optWCONTINUED = 0x00000008
	optWNOWAIT    = 0x01000000
	optWNOTHREAD  = 0x20000000
	optWALL       = 0x40000000
	optWCLONE     = 0x80000000
)

// waitid idtypes.
const (
	idAll   = 0
	idPID   = 1
	idPGID  = 2
	idPIDFD = 3
)

// si_code values of a dead child.
const (
	cldExited = 1
	cldDumped = 3
)

// reapedChild reports whether a wait call returned a dead child and
// released it, as opposed to reporting a stop, or peeking with WNOWAIT.
func reapedChild(e *event.Wait) bool {
	if e.ChildPID <= 0 || e.Options&optWNOWAIT != 0 {
		return false
	}
	if e.Syscall == event.SyscallWaitid {
		return e.ChildCode >= cldExited && e.ChildCode <= cldDumped
	}
	status := e.ChildCode
	stopped := status&0xff == 0x7f
	continued := status == 0xffff
	return !stopped && !continued
}

// nullInfopReap reports whether e is a waitid call that reaped a child
// without saying which: its infop, where the kernel writes the PID, was
// NULL, and it could only return 0 by reaping an exited child.
func nullInfopReap(e *event.Wait) bool {
	const notReaping = optWNOHANG | optWNOWAIT | optWUNTRACED | optWCONTINUED
	return e.Syscall == event.SyscallWaitid && !e.ArgsUnknown && e.Return == 0 &&
		e.ChildPID == 0 && e.Options&optWEXITED != 0 && e.Options&notReaping == 0
}

// waitTarget describes which children a call waits for.
func waitTarget(e *event.Wait) (kind int, id int64) {
	if e.Syscall == event.SyscallWaitid {
		return int(e.IDType), e.ID
	}
	switch {
	case e.ID == -1:
		return idAll, 0
	case e.ID == 0:
		return idPGID, 0
	case e.ID < -1:
		return idPGID, -e.ID
	}
	return idPID, e.ID
}

func formatTarget(e *event.Wait) string {
	if e.ArgsUnknown {
		return "unknown"
	}
	kind, id := waitTarget(e)
	switch kind {
	case idAll:
		return "any"
	case idPID:
		return fmt.Sprintf("pid %d", id)
	case idPGID:
		if id == 0 {
			return "own pgid"
		}
		return fmt.Sprintf("pgid %d", id)
	case idPIDFD:
		return fmt.Sprintf("pidfd %d", id)
	}
	return fmt.Sprintf("idtype %d id %d", kind, id)
}

var optionNames = []struct {
	bit  uint32
	name string
}{
	{optWNOHANG, "WNOHANG"},
	{optWUNTRACED, "WUNTRACED"},
	{optWEXITED, "WEXITED"},
	{optWCONTINUED, "WCONTINUED"},
	{optWNOWAIT, "WNOWAIT"},
	{optWNOTHREAD, "__WNOTHREAD"},
	{optWALL, "__WALL"},
	{optWCLONE, "__WCLONE"},
}

func formatOptions(options uint32) []string {
	var names []string
	for _, o := range optionNames {
		if options&o.bit != 0 {
			names = append(names, o.name)
		}
	}
	return names
}

// forOtherPID reports whether a call waited only for a child other than
// childNR. The PID behind a pidfd is known only from the child that the
// call returned.
func forOtherPID(e *event.Wait, childNR uint32) bool {
	kind, id := waitTarget(e)
	switch kind {
	case idPID:
		return id != int64(childNR)
	case idPIDFD:
		return e.ChildPID > 0 && uint32(e.ChildPID) != childNR
	}
	return false
}

// summarizeWaits classifies the calls a parent made since a child died.
// childNR is the child's PID in the parent's PID namespace.
func summarizeWaits(calls []event.Wait, childNR uint32) string {
	if len(calls) == 0 {
		return report.WaitNone
	}
	otherPIDs, nothing := true, true
	for i := range calls {
		if !forOtherPID(&calls[i], childNR) {
			otherPIDs = false
		}
		if calls[i].Options&optWNOHANG == 0 || calls[i].Return != 0 || calls[i].ChildPID != 0 {
			nothing = false
		}
	}
	switch {
	case otherPIDs:
		return report.WaitOtherPIDs
	case nothing:
		return report.WaitNothingDone
	}
	return report.WaitOther
}
