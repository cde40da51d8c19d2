package tracker

import (
	"testing"

	"github.com/zombietrace/zombietrace/internal/event"
	"github.com/zombietrace/zombietrace/internal/report"
)

func TestSummarizeWaits(t *testing.T) {
	wait4 := func(id int64, options uint32, ret int64) event.Wait {
		return event.Wait{Syscall: event.SyscallWait4, ID: id, Options: options, Return: ret}
	}
	tests := []struct {
		name  string
		calls []event.Wait
		want  string
	}{
		{"none", nil, report.WaitNone},
		{"other pids", []event.Wait{wait4(52, 0, 52), wait4(62, 0, 62)}, report.WaitOtherPIDs},
		{"pidfd of another child", []event.Wait{{Syscall: event.SyscallWaitid, IDType: idPIDFD, ID: 4,
			ChildPID: 52, ChildCode: cldExited}}, report.WaitOtherPIDs},
		{"pidfd of the zombie", []event.Wait{{Syscall: event.SyscallWaitid, IDType: idPIDFD, ID: 4,
			Options: optWEXITED | optWNOWAIT, ChildPID: 7, ChildCode: cldExited}}, report.WaitOther},
		{"pidfd that returned no child", []event.Wait{{Syscall: event.SyscallWaitid, IDType: idPIDFD, ID: 4,
			Options: optWEXITED}}, report.WaitOther},
		{"nohang any", []event.Wait{wait4(-1, optWNOHANG, 0)}, report.WaitNothingDone},
		{"for the zombie", []event.Wait{wait4(7, 0, 0)}, report.WaitOther},
		{"mixed", []event.Wait{wait4(52, 0, 52), wait4(-1, 0, -10)}, report.WaitOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarizeWaits(tt.calls, 7); got != tt.want {
				t.Errorf("summary = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReapedChild(t *testing.T) {
	tests := []struct {
		name string
		wait event.Wait
		want bool
	}{
		{"wait4 exited", event.Wait{Syscall: event.SyscallWait4, ChildPID: 5, ChildCode: 3 << 8}, true},
		{"wait4 killed", event.Wait{Syscall: event.SyscallWait4, ChildPID: 5, ChildCode: 9}, true},
		{"wait4 stopped", event.Wait{Syscall: event.SyscallWait4, ChildPID: 5, ChildCode: 0x137f}, false},
		{"wait4 continued", event.Wait{Syscall: event.SyscallWait4, ChildPID: 5, ChildCode: 0xffff}, false},
		{"waitid exited", event.Wait{Syscall: event.SyscallWaitid, ChildPID: 5, ChildCode: 1}, true},
		{"waitid stopped", event.Wait{Syscall: event.SyscallWaitid, ChildPID: 5, ChildCode: 5}, false},
		{"waitid nowait", event.Wait{Syscall: event.SyscallWaitid, ChildPID: 5, ChildCode: 1,
			Options: optWNOWAIT}, false},
		{"nothing", event.Wait{Syscall: event.SyscallWait4}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reapedChild(&tt.wait); got != tt.want {
				t.Errorf("reapedChild = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExitStatus(t *testing.T) {
	if s := exitStatus(7 << 8); s.Code == nil || *s.Code != 7 || s.Signal != "" {
		t.Errorf("exit 7 decoded as %+v", s)
	}
	if s := exitStatus(9); s.Code != nil || s.Signal != "SIGKILL" || s.CoreDumped {
		t.Errorf("SIGKILL decoded as %+v", s)
	}
	if s := exitStatus(11 | 0x80); s.Signal != "SIGSEGV" || !s.CoreDumped {
		t.Errorf("SIGSEGV with core decoded as %+v", s)
	}
}

func TestWaitLogSince(t *testing.T) {
	var l waitLog
	for i := range 20 {
		l.add(&event.Wait{Header: event.Header{TimeNs: uint64(i)}})
	}
	got := l.since(10)
	if len(got) != 10 || got[0].TimeNs != 10 || got[9].TimeNs != 19 {
		t.Errorf("since(10) = %d calls from %d, want 10 from 10", len(got), got[0].TimeNs)
	}
	if all := l.since(0); len(all) != waitLogSize {
		t.Errorf("since(0) = %d calls, want the %d kept", len(all), waitLogSize)
	}
}

func TestCapArgs(t *testing.T) {
	long := make([]byte, 600)
	for i := range long {
		long[i] = 'x'
	}
	got, cut := capArgs([]string{"sh", "-c", string(long)})
	if !cut {
		t.Error("a 606-byte command line was not cut")
	}
	total := 0
	for _, a := range got {
		total += len(a) + 1
	}
	if total > maxArgsBytes+1 {
		t.Errorf("cut command line is %d bytes, want at most %d", total, maxArgsBytes)
	}
	if short, cut := capArgs([]string{"sleep", "1"}); cut || len(short) != 2 {
		t.Errorf("capArgs(sleep 1) = %q, %v; want it unchanged", short, cut)
	}
}
