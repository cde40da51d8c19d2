//go:build linux

package reaper

import (
	"testing"

	"golang.org/x/sys/unix"
)

func savedAMD64() regs {
	var r regs
	r.user.Rip = 0x7f0000001234
	r.user.Rax = uint64(errRestartRestartBlockU)
	r.user.Orig_rax = unix.SYS_CLOCK_NANOSLEEP
	r.user.Rdi = 1
	r.user.Rsi = 0x7ffc0000
	r.user.Rdx = 0x7ffc0100
	r.user.R10 = 0xdead
	r.user.R8 = 0xbeef
	r.user.R9 = 0xcafe
	r.user.Rsp = 0x7ffd0000
	r.user.Rbx = 42
	r.user.Eflags = 0x246
	return r
}

// errRestartRestartBlockU is -ERESTART_RESTARTBLOCK as rax holds it.
const errRestartRestartBlockU = uint64(1<<64 + errRestartRestartBlock)

func TestInjectRegsAMD64(t *testing.T) {
	saved := savedAMD64()
	got := injectRegs(saved, 0x7fff1000, waitidRequest(5, 0x7ffc9000))

	checks := []struct {
		name      string
		got, want uint64
	}{
		{"rip", got.user.Rip, 0x7fff1000},
		{"rax", got.user.Rax, unix.SYS_WAITID},
		{"orig_rax", got.user.Orig_rax, ^uint64(0)},
		{"rdi", got.user.Rdi, unix.P_PID},
		{"rsi", got.user.Rsi, 5},
		{"rdx", got.user.Rdx, 0x7ffc9000},
		{"r10", got.user.R10, unix.WEXITED | unix.WNOHANG | unix.WALL},
		{"r8", got.user.R8, 0},
		{"r9", got.user.R9, 0},
		{"rsp", got.user.Rsp, saved.user.Rsp},
		{"rbx", got.user.Rbx, saved.user.Rbx},
		{"eflags", got.user.Eflags, saved.user.Eflags},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

func TestRestoreRegsAMD64(t *testing.T) {
	saved := savedAMD64()
	for _, restartBlock := range []bool{false, true} {
		if got := restoreRegs(saved, restartBlock); got != saved {
			t.Errorf("restoreRegs(restartBlock=%v) = %+v, want the saved registers %+v", restartBlock, got, saved)
		}
	}
}

func TestInterruptedCallAMD64(t *testing.T) {
	cases := []struct {
		name     string
		origRax  int64
		rax      int64
		wantOK   bool
		wantName string
	}{
		{"restart block", unix.SYS_CLOCK_NANOSLEEP, errRestartRestartBlock, true, "clock_nanosleep"},
		{"restartsys", unix.SYS_READ, errRestartSys, true, "read"},
		{"restartnohand", unix.SYS_PPOLL, errRestartNoHand, true, "ppoll"},
		{"restartnointr", unix.SYS_WAIT4, errRestartNoIntr, true, "wait4"},
		{"eintr", unix.SYS_EPOLL_WAIT, -int64(unix.EINTR), true, "epoll_wait"},
		{"completed call", unix.SYS_READ, 16, false, ""},
		{"user code", -1, 0x1234, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var r regs
			r.user.Orig_rax = uint64(tc.origRax)
			r.user.Rax = uint64(tc.rax)
			number, ret, ok := interruptedCall(r, 0)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if name := syscallName(number); name != tc.wantName {
				t.Errorf("name = %q, want %q", name, tc.wantName)
			}
			if ret != tc.rax {
				t.Errorf("ret = %d, want %d", ret, tc.rax)
			}
		})
	}
}

func TestSyscallCandidatesAMD64(t *testing.T) {
	var r regs
	r.user.Rip = 0x401002
	got := syscallCandidates(r)
	if len(got) != 1 || got[0] != 0x401000 {
		t.Errorf("syscallCandidates = %#x, want [0x401000]", got)
	}
}
