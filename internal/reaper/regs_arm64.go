//go:build linux

package reaper

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"
)

// regs is the general-purpose register set of an arm64 thread
// (struct user_pt_regs, the NT_PRSTATUS regset).
type regs struct {
	user unix.PtraceRegs
}

// syscallInstruction is the little-endian encoding of svc #0.
var syscallInstruction = binary.LittleEndian.AppendUint32(nil, 0xd4000001)

// archSupported marks an architecture with an injection implementation.
const archSupported = true

// instructionAlign is the alignment of syscallInstruction in a vDSO scan.
const instructionAlign = 4

// noSyscall is NO_SYSCALL, the kernel's pt_regs.syscallno outside a system
// call.
const noSyscall = -1

func getRegs(tid int) (regs, error) {
	var r regs
	if err := getRegset(tid, unix.NT_PRSTATUS, &r.user); err != nil {
		return regs{}, fmt.Errorf("get registers of thread %d: %w", tid, err)
	}
	return r, nil
}

func setRegs(tid int, r regs) error {
	if err := setRegset(tid, unix.NT_PRSTATUS, &r.user); err != nil {
		return fmt.Errorf("set registers of thread %d: %w", tid, err)
	}
	return nil
}

func stackPointer(r regs) uint64 { return r.user.Sp }

func returnValue(r regs) int64 { return int64(r.user.Regs[0]) }

// syscallCandidates lists addresses that may hold svc #0. The kernel's
// do_signal rewinds pc to the svc of an interrupted call before get_signal
// stops the thread, so pc is tried first, then the instruction before it.
func syscallCandidates(saved regs) []uint64 {
	return []uint64{saved.user.Pc, saved.user.Pc - uint64(len(syscallInstruction))}
}

// injectRegs builds the registers that make the thread execute call at insn:
// the number in x8 and the arguments in x0 to x5.
func injectRegs(saved regs, insn uint64, call syscallRequest) regs {
	r := saved
	r.user.Pc = insn
	r.user.Regs[8] = call.number
	copy(r.user.Regs[0:6], call.args[:])
	return r
}

// restoreRegs returns the registers to write back before the thread leaves
// its final stop inside get_signal.
//
// do_signal has already rewound pc and x0 of an interrupted call when the
// thread stops, and it sets x8 to restart_syscall for -ERESTART_RESTARTBLOCK
// only after get_signal returns, in the pass that the injection replaced. So
// restartBlock, detected when the injected svc entered restart_syscall, puts
// that x8 in place here.
func restoreRegs(saved regs, restartBlock bool) regs {
	r := saved
	if restartBlock {
		r.user.Regs[8] = unix.SYS_RESTART_SYSCALL
	}
	return r
}

// interruptedCall reports the call in x8 when pc is at the svc used for the
// injection, which is where do_signal leaves an interrupted call.
//
// NOTE: arm64 does not expose the interrupted call's -ERESTART* code at the
// stop, so ret is always 0, and a thread stopped right before an svc that it
// had not executed yet is reported as interrupted in that call.
func interruptedCall(saved regs, insn uint64) (number int64, ret int64, ok bool) {
	if insn != saved.user.Pc {
		return 0, 0, false
	}
	return int64(saved.user.Regs[8]), 0, true
}

// enteredSyscall returns the number of the system call at a
// syscall-enter-stop. It reads NT_ARM_SYSTEM_CALL because the kernel has
// already copied x8 into pt_regs.syscallno, and syscallno is what it runs.
func enteredSyscall(tid int) (int64, error) {
	return getSyscallNumber(tid)
}

// setEnteredSyscall replaces the system call at a syscall-enter-stop. -1
// makes the kernel skip it.
func setEnteredSyscall(tid int, number int64) error {
	return setSyscallNumber(tid, number)
}

// getSyscallNumber reads pt_regs.syscallno through NT_ARM_SYSTEM_CALL.
func getSyscallNumber(tid int) (int64, error) {
	var number int32
	if err := getRegset(tid, unix.NT_ARM_SYSTEM_CALL, &number); err != nil {
		return 0, fmt.Errorf("get system call number of thread %d: %w", tid, err)
	}
	return int64(number), nil
}

// setSyscallNumber writes pt_regs.syscallno through NT_ARM_SYSTEM_CALL.
func setSyscallNumber(tid int, number int64) error {
	value := int32(number)
	if err := setRegset(tid, unix.NT_ARM_SYSTEM_CALL, &value); err != nil {
		return fmt.Errorf("set system call number of thread %d: %w", tid, err)
	}
	return nil
}

var syscallNames = map[int64]string{
	unix.SYS_READ:            "read",
	unix.SYS_WRITE:           "write",
	unix.SYS_PSELECT6:        "pselect6",
	unix.SYS_PPOLL:           "ppoll",
	unix.SYS_NANOSLEEP:       "nanosleep",
	unix.SYS_CLOCK_NANOSLEEP: "clock_nanosleep",
	unix.SYS_EPOLL_PWAIT:     "epoll_pwait",
	unix.SYS_EPOLL_PWAIT2:    "epoll_pwait2",
	unix.SYS_WAIT4:           "wait4",
	unix.SYS_WAITID:          "waitid",
	unix.SYS_FUTEX:           "futex",
	unix.SYS_ACCEPT4:         "accept4",
	unix.SYS_CONNECT:         "connect",
	unix.SYS_RECVFROM:        "recvfrom",
	unix.SYS_RECVMSG:         "recvmsg",
	unix.SYS_SENDTO:          "sendto",
	unix.SYS_SENDMSG:         "sendmsg",
	unix.SYS_READV:           "readv",
	unix.SYS_WRITEV:          "writev",
	unix.SYS_RT_SIGSUSPEND:   "rt_sigsuspend",
	unix.SYS_RT_SIGTIMEDWAIT: "rt_sigtimedwait",
	unix.SYS_RESTART_SYSCALL: "restart_syscall",
	unix.SYS_IO_URING_ENTER:  "io_uring_enter",
	unix.SYS_IO_GETEVENTS:    "io_getevents",
	unix.SYS_FLOCK:           "flock",
	unix.SYS_FCNTL:           "fcntl",
	unix.SYS_OPENAT:          "openat",
	unix.SYS_IOCTL:           "ioctl",
}
