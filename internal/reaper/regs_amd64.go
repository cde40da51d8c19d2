//go:build linux

package reaper

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// regs is the general-purpose register set of an x86_64 thread
// (struct user_regs_struct).
type regs struct {
	user unix.PtraceRegs
}

// syscallInstruction is the encoding of the x86_64 syscall instruction.
var syscallInstruction = []byte{0x0f, 0x05}

// archSupported marks an architecture with an injection implementation.
const archSupported = true

// instructionAlign is the alignment of syscallInstruction in a vDSO scan.
const instructionAlign = 1

func getRegs(tid int) (regs, error) {
	var r regs
	if err := unix.PtraceGetRegs(tid, &r.user); err != nil {
		return regs{}, fmt.Errorf("get registers of thread %d: %w", tid, err)
	}
	return r, nil
}

func setRegs(tid int, r regs) error {
	if err := unix.PtraceSetRegs(tid, &r.user); err != nil {
		return fmt.Errorf("set registers of thread %d: %w", tid, err)
	}
	return nil
}

func stackPointer(r regs) uint64 { return r.user.Rsp }

func returnValue(r regs) int64 { return int64(r.user.Rax) }

// syscallCandidates lists addresses that may hold a syscall instruction. A
// thread stopped in a system call has its instruction pointer just past it.
func syscallCandidates(saved regs) []uint64 {
	return []uint64{saved.user.Rip - uint64(len(syscallInstruction))}
}

// injectRegs builds the registers that make the thread execute call at insn.
// orig_rax is set to -1 so that the kernel's restart logic, which runs when
// the thread leaves the interrupt stop, leaves the injected registers alone.
func injectRegs(saved regs, insn uint64, call syscallRequest) regs {
	r := saved
	r.user.Rip = insn
	r.user.Rax = call.number
	r.user.Orig_rax = ^uint64(0)
	r.user.Rdi = call.args[0]
	r.user.Rsi = call.args[1]
	r.user.Rdx = call.args[2]
	r.user.R10 = call.args[3]
	r.user.R8 = call.args[4]
	r.user.R9 = call.args[5]
	return r
}

// restoreRegs returns the registers to write back before the thread leaves
// its final stop inside get_signal. On x86_64 these are the saved registers
// unchanged: orig_rax and the -ERESTART* code in rax make the kernel restart
// the interrupted call, or turn it into EINTR for a signal handler.
func restoreRegs(saved regs, _ bool) regs {
	return saved
}

// interruptedCall reports the system call that the thread was in at the
// stop, and the return register the kernel left for it.
func interruptedCall(saved regs, _ uint64) (number int64, ret int64, ok bool) {
	number = int64(saved.user.Orig_rax)
	ret = int64(saved.user.Rax)
	if number < 0 {
		return 0, 0, false
	}
	switch ret {
	case errRestartSys, errRestartNoIntr, errRestartNoHand, errRestartRestartBlock, -int64(unix.EINTR):
		return number, ret, true
	}
	return 0, 0, false
}

// enteredSyscall returns the number of the system call at a
// syscall-enter-stop.
func enteredSyscall(tid int) (int64, error) {
	r, err := getRegs(tid)
	if err != nil {
		return 0, err
	}
	return int64(r.user.Orig_rax), nil
}

// setEnteredSyscall replaces the system call at a syscall-enter-stop. -1
// makes the kernel skip it.
func setEnteredSyscall(tid int, number int64) error {
	r, err := getRegs(tid)
	if err != nil {
		return err
	}
	r.user.Orig_rax = uint64(number)
	return setRegs(tid, r)
}

// getSyscallNumber and setSyscallNumber have nothing to do on x86_64, where
// orig_rax is part of regs and injectRegs and restoreRegs set it.
func getSyscallNumber(int) (int64, error) { return -1, nil }

func setSyscallNumber(int, int64) error { return nil }

var syscallNames = map[int64]string{
	unix.SYS_READ:            "read",
	unix.SYS_WRITE:           "write",
	unix.SYS_POLL:            "poll",
	unix.SYS_SELECT:          "select",
	unix.SYS_PSELECT6:        "pselect6",
	unix.SYS_PPOLL:           "ppoll",
	unix.SYS_NANOSLEEP:       "nanosleep",
	unix.SYS_CLOCK_NANOSLEEP: "clock_nanosleep",
	unix.SYS_EPOLL_WAIT:      "epoll_wait",
	unix.SYS_EPOLL_PWAIT:     "epoll_pwait",
	unix.SYS_EPOLL_PWAIT2:    "epoll_pwait2",
	unix.SYS_WAIT4:           "wait4",
	unix.SYS_WAITID:          "waitid",
	unix.SYS_FUTEX:           "futex",
	unix.SYS_PAUSE:           "pause",
	unix.SYS_ACCEPT:          "accept",
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
