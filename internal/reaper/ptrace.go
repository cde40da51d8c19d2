//go:build linux

package reaper

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

type stopKind int

const (
	// stopEvent is a PTRACE_EVENT_STOP: the trap that PTRACE_INTERRUPT
	// requests, or a group-stop. The tracee is inside get_signal.
	stopEvent stopKind = iota
	// stopSyscall is a syscall-enter or syscall-exit stop.
	stopSyscall
	// stopSignal is a signal-delivery-stop. The tracee is inside get_signal.
	stopSignal
)

// stop is one ptrace stop reported by wait4.
type stop struct {
	kind   stopKind
	signal unix.Signal
}

// Polling bounds for waitStop when the context can be cancelled.
const (
	minPollDelay = 5 * time.Microsecond
	maxPollDelay = 2 * time.Millisecond
)

func ptraceRequest(request, tid int, addr, data uintptr) error {
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, uintptr(request), uintptr(tid), addr, data, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// seize attaches without stopping the thread. PTRACE_O_EXITKILL stays unset
// so the parent survives if the caller dies while it is traced.
func seize(tid int) error {
	err := ptraceRequest(unix.PTRACE_SEIZE, tid, 0, unix.PTRACE_O_TRACESYSGOOD)
	if err != nil {
		return fmt.Errorf("seize thread %d: %w: %w", tid, ErrPtraceRefused, err)
	}
	return nil
}

// detach resumes the thread, delivering signal if it is in a
// signal-delivery-stop.
func detach(tid int, signal unix.Signal) error {
	return ptraceRequest(unix.PTRACE_DETACH, tid, 0, uintptr(signal))
}

// waitStop returns the next stop of tid. With a context that can be
// cancelled it polls, because wait4 cannot be interrupted from another
// goroutine.
func waitStop(ctx context.Context, tid int) (stop, error) {
	options := unix.WALL
	if ctx.Done() != nil {
		options |= unix.WNOHANG
	}
	delay := minPollDelay
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(tid, &ws, options, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return stop{}, fmt.Errorf("wait for thread %d: %w", tid, err)
		}
		if pid == tid {
			return decodeStop(tid, ws)
		}
		if err := sleepContext(ctx, delay); err != nil {
			return stop{}, fmt.Errorf("wait for thread %d to stop: %w", tid, err)
		}
		delay = min(2*delay, maxPollDelay)
	}
}

func sleepContext(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

func decodeStop(tid int, ws unix.WaitStatus) (stop, error) {
	switch {
	case ws.Exited():
		return stop{}, fmt.Errorf("thread %d exited with status %d: %w", tid, ws.ExitStatus(), ErrParentExited)
	case ws.Signaled():
		return stop{}, fmt.Errorf("thread %d killed by %v: %w", tid, ws.Signal(), ErrParentExited)
	case !ws.Stopped():
		return stop{}, fmt.Errorf("thread %d: unexpected wait status %#x", tid, uint32(ws))
	}

	signal := ws.StopSignal()
	event := (uint32(ws) >> 16) & 0xff
	switch {
	case event == unix.PTRACE_EVENT_STOP:
		return stop{kind: stopEvent, signal: signal}, nil
	case signal == unix.SIGTRAP|0x80:
		return stop{kind: stopSyscall}, nil
	default:
		return stop{kind: stopSignal, signal: signal}, nil
	}
}

// getRegset reads the regset note of tid into out.
func getRegset[T any](tid int, note int, out *T) error {
	iov := unix.Iovec{Base: (*byte)(unsafe.Pointer(out))}
	iov.SetLen(int(unsafe.Sizeof(*out)))
	return ptraceRequest(unix.PTRACE_GETREGSET, tid, uintptr(note), uintptr(unsafe.Pointer(&iov)))
}

// setRegset writes in to the regset note of tid.
func setRegset[T any](tid int, note int, in *T) error {
	iov := unix.Iovec{Base: (*byte)(unsafe.Pointer(in))}
	iov.SetLen(int(unsafe.Sizeof(*in)))
	return ptraceRequest(unix.PTRACE_SETREGSET, tid, uintptr(note), uintptr(unsafe.Pointer(&iov)))
}

func readMemory(tid int, addr uint64, buf []byte) error {
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	n, err := unix.ProcessVMReadv(tid, local, remote, 0)
	if err != nil {
		return fmt.Errorf("read %d bytes at %#x of thread %d: %w", len(buf), addr, tid, err)
	}
	if n != len(buf) {
		return fmt.Errorf("read %d bytes at %#x of thread %d: short read of %d", len(buf), addr, tid, n)
	}
	return nil
}

func writeMemory(tid int, addr uint64, buf []byte) error {
	local := []unix.Iovec{{Base: &buf[0]}}
	local[0].SetLen(len(buf))
	remote := []unix.RemoteIovec{{Base: uintptr(addr), Len: len(buf)}}
	n, err := unix.ProcessVMWritev(tid, local, remote, 0)
	if err != nil {
		return fmt.Errorf("write %d bytes at %#x of thread %d: %w", len(buf), addr, tid, err)
	}
	if n != len(buf) {
		return fmt.Errorf("write %d bytes at %#x of thread %d: short write of %d", len(buf), addr, tid, n)
	}
	return nil
}
