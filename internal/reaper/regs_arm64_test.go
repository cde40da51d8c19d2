//go:build linux

package reaper

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

func savedARM64() regs {
	var r regs
	for i := range r.user.Regs {
		r.user.Regs[i] = uint64(100 + i)
	}
	r.user.Regs[8] = unix.SYS_NANOSLEEP
	r.user.Sp = 0x7ffd0000
	r.user.Pc = 0x400100
	r.user.Pstate = 0x60000000
	return r
}

func TestInjectRegsARM64(t *testing.T) {
	saved := savedARM64()
	got := injectRegs(saved, 0x400100, waitidRequest(9, 0x7ffc9000))

	want := saved
	want.user.Pc = 0x400100
	want.user.Regs[8] = unix.SYS_WAITID
	want.user.Regs[0] = unix.P_PID
	want.user.Regs[1] = 9
	want.user.Regs[2] = 0x7ffc9000
	want.user.Regs[3] = unix.WEXITED | unix.WNOHANG | unix.WALL
	want.user.Regs[4] = 0
	want.user.Regs[5] = 0
	if got != want {
		t.Errorf("injectRegs =\n%+v\nwant\n%+v", got, want)
	}
	if got.user.Regs[6] != saved.user.Regs[6] || got.user.Regs[30] != saved.user.Regs[30] {
		t.Errorf("injectRegs changed registers other than x0-x5, x8 and pc")
	}
}

func TestRestoreRegsARM64(t *testing.T) {
	saved := savedARM64()
	cases := []struct {
		name         string
		restartBlock bool
		wantX8       uint64
	}{
		{"plain restart", false, unix.SYS_NANOSLEEP},
		{"restart block", true, unix.SYS_RESTART_SYSCALL},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := restoreRegs(saved, tc.restartBlock)
			if got.user.Regs[8] != tc.wantX8 {
				t.Errorf("x8 = %d, want %d", got.user.Regs[8], tc.wantX8)
			}
			got.user.Regs[8] = saved.user.Regs[8]
			if got != saved {
				t.Errorf("restoreRegs changed registers other than x8:\n%+v\nwant\n%+v", got, saved)
			}
		})
	}
}

func TestInterruptedCallARM64(t *testing.T) {
	saved := savedARM64()
	number, _, ok := interruptedCall(saved, saved.user.Pc)
	if !ok || syscallName(number) != "nanosleep" {
		t.Errorf("interruptedCall at pc = %d, %v, want nanosleep, true", number, ok)
	}
	if _, _, ok := interruptedCall(saved, 0x7fff0000); ok {
		t.Errorf("interruptedCall with a vDSO instruction = true, want false")
	}
}

func TestSyscallInstructionARM64(t *testing.T) {
	if got := binary.LittleEndian.Uint32(syscallInstruction); got != 0xd4000001 {
		t.Errorf("syscallInstruction = %#x, want svc #0 (0xd4000001)", got)
	}
	saved := savedARM64()
	got := syscallCandidates(saved)
	if len(got) != 2 || got[0] != saved.user.Pc || got[1] != saved.user.Pc-4 {
		t.Errorf("syscallCandidates = %#x, want [pc, pc-4]", got)
	}
}
