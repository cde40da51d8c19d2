package tracker

import (
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/event"
)

// BenchmarkForkExitWaitCycle feeds the events of one fork, exit, SIGCHLD,
// wait and free, as a parent that reaps its children makes them.
func BenchmarkForkExitWaitCycle(b *testing.B) {
	t := &testing.T{}
	h := newHarness(t)
	parent := ref(100, 50)
	h.proc.process(100, "storm", 'S', 1, 50)
	now := time.Second
	pid := uint32(1000)
	b.ReportAllocs()
	for b.Loop() {
		pid++
		now += time.Millisecond
		child := event.ProcRef{PID: pid, StartNs: uint64(now)}
		h.fork(now, child, parent, chain(pid))
		h.exit(now, child, parent, chain(pid), 0)
		h.Handle(&event.ChildSignal{Header: hdr(event.KindChildSignal, now, child), Target: parent,
			Signal: 17, Code: 1, ChildNSPID: int32(pid), Self: true})
		h.Handle(&event.Wait{Header: hdr(event.KindWait, now, parent), Syscall: event.SyscallWait4,
			ID: int64(pid), Return: int64(pid), ChildPID: int32(pid)})
		h.Handle(&event.Free{Header: hdr(event.KindFree, now, child)})
		if pid%1000 == 0 {
			h.expireAt(now)
		}
	}
}
