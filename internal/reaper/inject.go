//go:build linux

package reaper

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Kernel-internal return codes of an interrupted system call, from
// include/linux/errno.h. They are never returned to user space, but a tracer
// reads them in the return register at a stop.
const (
	errRestartSys          = -512
	errRestartNoIntr       = -513
	errRestartNoHand       = -514
	errRestartRestartBlock = -516
)

// maxAttempts bounds the stop and inject rounds when signals keep arriving
// for the parent thread before the injected call runs.
const maxAttempts = 8

// Scratch area for the waitid siginfo, placed below the stack pointer with
// room for the 128-byte x86_64 red zone. It is saved before and written back
// after the call.
const (
	scratchOffset = 256
	scratchSize   = 128
)

// Offsets in the x86_64 and arm64 siginfo_t that waitid fills in.
const (
	siginfoSignoOffset  = 0
	siginfoCodeOffset   = 8
	siginfoStatusOffset = 24
)

// syscallRequest is a system call to inject: a number and six arguments.
type syscallRequest struct {
	number uint64
	args   [6]uint64
}

// waitidRequest builds waitid(P_PID, childNS, infop, WEXITED|WNOHANG|__WALL,
// NULL). __WALL also collects children created with a non-SIGCHLD exit
// signal, and WNOHANG keeps a child that is not a zombie from blocking the
// parent.
//
// NOTE: a seccomp filter in the parent that does not allow waitid kills or
// fails the injected call. Reap does not inspect the filter.
func waitidRequest(childNS int, infop uint64) syscallRequest {
	return syscallRequest{
		number: unix.SYS_WAITID,
		args: [6]uint64{
			unix.P_PID,
			uint64(childNS),
			infop,
			InjectedOptions,
			0,
			0,
		},
	}
}

func syscallName(number int64) string {
	if name, ok := syscallNames[number]; ok {
		return name
	}
	return "syscall " + strconv.FormatInt(number, 10)
}

// session is one ptrace attachment to a parent thread. All methods must run
// on the OS thread that called seize.
type session struct {
	tid int
	log *slog.Logger

	// attached is true from PTRACE_SEIZE until the thread is detached or
	// has exited.
	attached bool
	// modified is true while registers or scratch memory of the thread
	// differ from saved and backup.
	modified bool
	// inSyscallStop is true while the thread is in a syscall-enter-stop or
	// syscall-exit-stop.
	inSyscallStop bool

	saved       regs
	savedNumber int64
	scratch     uint64
	backup      []byte
}

// injection holds what one injected waitid returned.
type injection struct {
	ret          int64
	info         []byte
	restartBlock bool
}

// errSignalFirst reports that a signal arrived before the injected call ran.
// The signal has been delivered with the saved registers, and the thread must
// be stopped again.
var errSignalFirst = errors.New("signal arrived before injected call")

func (s *session) run(ctx context.Context, childNS int) (Result, error) {
	start := time.Now()
	if err := seize(s.tid); err != nil {
		return Result{}, err
	}
	s.attached = true
	s.log.Debug("seized parent thread", "tid", s.tid)

	result, err := s.runAttempts(ctx, childNS)
	result.TID = s.tid
	result.Duration = time.Since(start)
	return result, err
}

func (s *session) runAttempts(ctx context.Context, childNS int) (Result, error) {
	var result Result
	for result.Attempts < maxAttempts {
		result.Attempts++
		if err := s.stopThread(ctx); err != nil {
			return result, s.abort(err)
		}

		inj, err := s.injectOnce(childNS, &result)
		if errors.Is(err, errSignalFirst) {
			continue
		}
		if err != nil {
			return result, err
		}
		return s.finish(result, inj, childNS)
	}
	return result, s.abort(fmt.Errorf("thread %d: signals arrived before the injected call %d times",
		s.tid, maxAttempts))
}

// stopThread interrupts the thread and waits for the PTRACE_EVENT_STOP.
// Signal-delivery-stops on the way are passed through, so the signals reach
// the parent unchanged and before the injection.
func (s *session) stopThread(ctx context.Context) error {
	if err := unix.PtraceInterrupt(s.tid); err != nil {
		return fmt.Errorf("interrupt thread %d: %w", s.tid, err)
	}
	for {
		st, err := waitStop(ctx, s.tid)
		if err != nil {
			return err
		}
		switch st.kind {
		case stopEvent:
			return nil
		case stopSignal:
			s.log.Debug("passing signal to parent before injection", "tid", s.tid, "signal", st.signal)
			// The delivery may clear the pending interrupt, so request it
			// again after resuming.
			if err := unix.PtraceCont(s.tid, int(st.signal)); err != nil {
				return fmt.Errorf("resume thread %d with %v: %w", s.tid, st.signal, err)
			}
			if err := unix.PtraceInterrupt(s.tid); err != nil {
				return fmt.Errorf("interrupt thread %d: %w", s.tid, err)
			}
		default:
			return fmt.Errorf("thread %d: unexpected syscall stop before injection", s.tid)
		}
	}
}

// injectOnce saves the registers at the interrupt stop, points the thread at
// a syscall instruction with the waitid arguments and runs it between its
// syscall-enter-stop and syscall-exit-stop.
func (s *session) injectOnce(childNS int, result *Result) (injection, error) {
	if err := s.save(); err != nil {
		return injection{}, s.abort(err)
	}
	insn, err := s.findSyscallInstruction()
	if err != nil {
		return injection{}, s.abort(err)
	}
	result.Interrupted, result.InterruptedReturn = "", 0
	if number, ret, ok := interruptedCall(s.saved, insn); ok {
		result.Interrupted, result.InterruptedReturn = syscallName(number), ret
	}

	s.modified = true
	request := waitidRequest(childNS, s.scratch)
	if err := setRegs(s.tid, injectRegs(s.saved, insn, request)); err != nil {
		return injection{}, s.abort(err)
	}

	entered, err := s.resumeToSyscallEntry()
	if err != nil || !entered {
		return injection{}, err
	}
	return s.runEnteredCall()
}

// save records the registers and the scratch memory of the stopped thread.
func (s *session) save() error {
	saved, err := getRegs(s.tid)
	if err != nil {
		return err
	}
	number, err := getSyscallNumber(s.tid)
	if err != nil {
		return err
	}
	s.saved, s.savedNumber = saved, number

	s.scratch = (stackPointer(saved) - scratchOffset) &^ 15
	s.backup = make([]byte, scratchSize)
	return readMemory(s.tid, s.scratch, s.backup)
}

// findSyscallInstruction returns the address of a syscall instruction that
// the thread can execute: the one it stopped in, or one in its vDSO. The
// bytes around it do not matter because the thread executes only that one
// instruction before the syscall-exit-stop.
func (s *session) findSyscallInstruction() (uint64, error) {
	buf := make([]byte, len(syscallInstruction))
	for _, addr := range syscallCandidates(s.saved) {
		if readMemory(s.tid, addr, buf) == nil && bytes.Equal(buf, syscallInstruction) {
			return addr, nil
		}
	}

	start, end, err := findVDSO(s.tid)
	if err != nil {
		return 0, fmt.Errorf("find syscall instruction: %w", err)
	}
	image := make([]byte, end-start)
	if err := readMemory(s.tid, start, image); err != nil {
		return 0, fmt.Errorf("find syscall instruction in vdso: %w", err)
	}
	for off := 0; off+len(syscallInstruction) <= len(image); off += instructionAlign {
		if bytes.Equal(image[off:off+len(syscallInstruction)], syscallInstruction) {
			return start + uint64(off), nil
		}
	}
	return 0, fmt.Errorf("no syscall instruction in the vdso of thread %d", s.tid)
}

// resumeToSyscallEntry runs the thread to the syscall-enter-stop of the
// injected call. It returns false with errSignalFirst when a signal arrived
// first: the registers are then restored and the signal delivered.
func (s *session) resumeToSyscallEntry() (bool, error) {
	for range maxAttempts {
		st, err := s.resume(unix.PTRACE_SYSCALL, 0)
		if err != nil {
			return false, err
		}
		switch st.kind {
		case stopSyscall:
			s.inSyscallStop = true
			return true, nil
		case stopSignal:
			return false, s.deliverFirst(st.signal)
		case stopEvent:
			// A group-stop or a late trap. The registers are still the
			// injected ones, so resume again.
			s.log.Debug("event stop before injected call", "tid", s.tid, "signal", st.signal)
		}
	}
	return false, s.abort(fmt.Errorf("thread %d did not reach the injected syscall", s.tid))
}

// deliverFirst restores the thread from a signal-delivery-stop that came
// before the injected call, and delivers the signal as if the thread had
// never been touched.
func (s *session) deliverFirst(signal unix.Signal) error {
	s.log.Debug("signal before injected call, delivering it first", "tid", s.tid, "signal", signal)
	if err := s.restore(false); err != nil {
		return s.abort(err)
	}
	if err := unix.PtraceCont(s.tid, int(signal)); err != nil {
		return s.abort(fmt.Errorf("resume thread %d with %v: %w", s.tid, signal, err))
	}
	return errSignalFirst
}

// runEnteredCall checks the call at the syscall-enter-stop, lets it run to
// the syscall-exit-stop and reads its result.
func (s *session) runEnteredCall() (injection, error) {
	var inj injection
	number, err := enteredSyscall(s.tid)
	if err != nil {
		return inj, s.abort(err)
	}
	switch number {
	case unix.SYS_WAITID:
	case unix.SYS_RESTART_SYSCALL:
		// Only arm64 gets here: see restoreRegs in regs_arm64.go.
		inj.restartBlock = true
		if err := setEnteredSyscall(s.tid, unix.SYS_WAITID); err != nil {
			return inj, s.abort(err)
		}
	default:
		if err := setEnteredSyscall(s.tid, -1); err != nil {
			return inj, s.abort(err)
		}
		return inj, s.abort(fmt.Errorf("thread %d entered %s in place of waitid, skipped it",
			s.tid, syscallName(number)))
	}

	st, err := s.resume(unix.PTRACE_SYSCALL, 0)
	if err != nil {
		return inj, err
	}
	if st.kind != stopSyscall {
		return inj, s.abort(fmt.Errorf("thread %d: expected syscall-exit-stop, got stop kind %d", s.tid, st.kind))
	}

	after, err := getRegs(s.tid)
	if err != nil {
		return inj, s.abort(err)
	}
	inj.ret = returnValue(after)
	inj.info = make([]byte, siginfoStatusOffset+4)
	if err := readMemory(s.tid, s.scratch, inj.info); err != nil {
		return inj, s.abort(err)
	}
	return inj, nil
}

// resume restarts the thread with a ptrace request and waits for its next
// stop. The wait ignores the caller's context, because the thread is running
// injected code and has to be restored before Reap returns.
func (s *session) resume(request int, signal unix.Signal) (stop, error) {
	s.inSyscallStop = false
	if err := ptraceRequest(request, s.tid, 0, uintptr(signal)); err != nil {
		return stop{}, s.abort(fmt.Errorf("resume thread %d: %w", s.tid, err))
	}
	st, err := waitStop(context.Background(), s.tid)
	if errors.Is(err, ErrParentExited) {
		s.attached = false
		return stop{}, err
	}
	if err != nil {
		return stop{}, s.abort(err)
	}
	return st, nil
}

// leaveSyscallStop moves the thread from a syscall stop to a stop inside
// get_signal, so that the restored registers go through the kernel's restart
// logic and signal delivery when the thread resumes. A detach from a syscall
// stop has the same effect on Linux 6.18, because __ptrace_unlink sets
// TIF_SIGPENDING, but ptrace(2) does not document it. It returns the signal
// of a signal-delivery-stop, which the caller must deliver on resume.
func (s *session) leaveSyscallStop() (unix.Signal, error) {
	if err := unix.PtraceInterrupt(s.tid); err != nil {
		return 0, fmt.Errorf("interrupt thread %d: %w", s.tid, err)
	}
	for range maxAttempts {
		st, err := s.resumeQuiet(unix.PTRACE_CONT)
		if err != nil {
			return 0, err
		}
		switch st.kind {
		case stopEvent:
			return 0, nil
		case stopSignal:
			return st.signal, nil
		}
	}
	return 0, fmt.Errorf("thread %d did not stop in get_signal", s.tid)
}

// resumeQuiet is resume without the abort on failure, for use on the abort
// path itself.
func (s *session) resumeQuiet(request int) (stop, error) {
	s.inSyscallStop = false
	if err := ptraceRequest(request, s.tid, 0, 0); err != nil {
		return stop{}, fmt.Errorf("resume thread %d: %w", s.tid, err)
	}
	st, err := waitStop(context.Background(), s.tid)
	if errors.Is(err, ErrParentExited) {
		s.attached = false
	}
	return st, err
}

// restore writes back the saved registers, system call number and scratch
// memory. restartBlock is passed to restoreRegs.
func (s *session) restore(restartBlock bool) error {
	if !s.modified {
		return nil
	}
	if err := setRegs(s.tid, restoreRegs(s.saved, restartBlock)); err != nil {
		return err
	}
	if err := setSyscallNumber(s.tid, s.savedNumber); err != nil {
		return err
	}
	if err := writeMemory(s.tid, s.scratch, s.backup); err != nil {
		return err
	}
	s.modified = false
	return nil
}

// finish restores the thread after the injected call, detaches and decodes
// the waitid result.
func (s *session) finish(result Result, inj injection, childNS int) (Result, error) {
	signal, err := s.leaveSyscallStop()
	if err != nil {
		return result, s.abort(err)
	}
	if err := s.restore(inj.restartBlock); err != nil {
		return result, s.abort(err)
	}
	if err := detach(s.tid, signal); err != nil {
		return result, s.abort(fmt.Errorf("detach thread %d: %w", s.tid, err))
	}
	s.attached = false
	s.log.Debug("detached parent thread", "tid", s.tid, "signal", signal)
	return decodeWait(result, inj, childNS)
}

func decodeWait(result Result, inj injection, childNS int) (Result, error) {
	result.WaitReturn = inj.ret
	if inj.ret < 0 {
		errno := unix.Errno(-inj.ret)
		if errno == unix.ECHILD {
			return result, fmt.Errorf("waitid for child %d: %w", childNS, ErrNoChild)
		}
		return result, fmt.Errorf("waitid for child %d: %w", childNS, errno)
	}

	signo := int32(binary.NativeEndian.Uint32(inj.info[siginfoSignoOffset:]))
	if signo != int32(unix.SIGCHLD) {
		return result, fmt.Errorf("waitid for child %d collected nothing: %w", childNS, ErrNotZombie)
	}
	result.Reaped = true
	result.Code = int(int32(binary.NativeEndian.Uint32(inj.info[siginfoCodeOffset:])))
	result.Status = int(int32(binary.NativeEndian.Uint32(inj.info[siginfoStatusOffset:])))
	return result, nil
}

// abort brings the thread back to its saved state and detaches it after a
// failure. It returns cause, joined with ErrDetach when the thread could not
// be detached. The tracing thread then ends, which makes the kernel detach
// the parent.
func (s *session) abort(cause error) error {
	if !s.attached {
		return cause
	}
	var signal unix.Signal
	var err error
	if s.inSyscallStop {
		signal, err = s.leaveSyscallStop()
	}
	if err == nil {
		err = s.restore(false)
	}
	if err == nil {
		err = detach(s.tid, signal)
	}
	if err != nil {
		if !s.attached {
			return errors.Join(cause, err)
		}
		return errors.Join(cause, fmt.Errorf("thread %d: %w: %w", s.tid, ErrDetach, err))
	}
	s.attached = false
	return cause
}
