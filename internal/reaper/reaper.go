//go:build linux

// Package reaper makes a parent process reap one of its zombie children by
// injecting a waitid system call into a thread of the parent with ptrace.
//
// The parent is stopped for the duration of one system call. Every register
// is restored afterwards and the kernel's system call restart logic runs as it
// would after a harmless signal, so a blocking call the parent was in (read,
// nanosleep, poll, wait4, futex) carries on with its remaining timeout.
package reaper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

var (
	// ErrPtraceRefused reports that the kernel rejected PTRACE_SEIZE on the
	// parent: it has another tracer, a Yama or LSM policy forbids it, or the
	// caller lacks CAP_SYS_PTRACE. The parent was not touched.
	ErrPtraceRefused = errors.New("ptrace attach rejected")

	// ErrNotZombie reports that the child exists but has not exited, or is a
	// thread-group leader whose other threads are still running.
	ErrNotZombie = errors.New("child is not a zombie")

	// ErrNoChild reports that the parent has no child with the requested PID.
	ErrNoChild = errors.New("no such child")

	// ErrUnsupportedArch reports an architecture without an injection
	// implementation. amd64 and arm64 are supported.
	ErrUnsupportedArch = errors.New("unsupported architecture")

	// ErrInitProcess reports a request to inject into PID 1 of the caller's
	// PID namespace without Options.AllowInit.
	ErrInitProcess = errors.New("parent is pid 1 of the caller's pid namespace")

	// ErrInvalidPID reports a non-positive PID, or a parent that is the
	// calling process itself.
	ErrInvalidPID = errors.New("invalid pid")

	// ErrParentExited reports that the parent thread exited while it was
	// traced. Nothing is left to restore.
	ErrParentExited = errors.New("parent exited during injection")

	// ErrDetach reports that the parent could not be restored and detached.
	// The tracing thread is then terminated, which makes the kernel detach
	// the parent.
	ErrDetach = errors.New("restore and detach parent failed")
)

// Result describes one injected wait.
type Result struct {
	// Reaped is true when the injected waitid collected the zombie.
	Reaped bool
	// WaitReturn is the raw return value of the injected waitid: 0 on
	// success or a negative errno.
	WaitReturn int64
	// Status is si_status from the waitid siginfo: the exit code, or the
	// signal number for a child killed by a signal.
	Status int
	// Code is si_code from the waitid siginfo (CLD_EXITED, CLD_KILLED or
	// CLD_DUMPED), or 0 when nothing was reaped.
	Code int
	// Duration is the time from PTRACE_SEIZE until the parent is detached.
	Duration time.Duration
	// Interrupted is the name of the system call that the parent thread
	// was in when it was stopped, or empty when it was in user code. On
	// arm64 it is the call in x8 when pc is at an svc instruction.
	Interrupted string
	// InterruptedReturn is the return register of the interrupted call at
	// the stop. It is a -ERESTART* code for a call that the kernel restarts,
	// or -EINTR (-4) for one that it does not restart, such as epoll_wait.
	// The parent then gets EINTR, as it would after a debugger attached.
	// It is 0 when Interrupted is empty.
	InterruptedReturn int64
	// TID is the thread of the parent that ran the injected call.
	TID int
	// Attempts counts stop and inject rounds. It is above 1 when a signal
	// arrived for the thread during injection and was delivered first.
	Attempts int
}

// Options configures ReapWithOptions.
type Options struct {
	// AllowInit permits a parent that is PID 1 of the caller's PID
	// namespace.
	AllowInit bool
	// Logger receives debug records of each step and warnings for failed
	// cleanup. Nil means slog.Default().
	Logger *slog.Logger
	// Injections, if set, remembers the waitid call before it is made.
	Injections *Injections
}

// Reap makes the process parent reap exactly the zombie child whose PID in
// the parent's own PID namespace is childNS. parent is a PID in the caller's
// PID namespace. It uses default Options.
func Reap(ctx context.Context, parent, childNS int) (Result, error) {
	return ReapWithOptions(ctx, parent, childNS, Options{})
}

// ReapWithOptions is Reap with explicit options.
//
// ctx bounds the wait for the parent thread to stop. Once its registers are
// changed, the injection runs to the end regardless of ctx, which takes well
// under a millisecond unless the machine is overloaded.
//
// The caller must not wait for the parent from another thread of its own
// process while Reap runs, because the kernel reports ptrace stops to every
// thread of the tracer's thread group.
func ReapWithOptions(ctx context.Context, parent, childNS int, opts Options) (Result, error) {
	if err := validate(parent, childNS, opts); err != nil {
		return Result{}, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}

	tid, err := checkTarget(parent, childNS)
	if err != nil {
		return Result{}, err
	}

	if opts.Injections != nil {
		opts.Injections.add(parent, childNS, time.Now())
	}
	done := make(chan outcome, 1)
	go runLocked(ctx, tid, childNS, opts.Logger, done)

	out := <-done
	return out.result, out.err
}

type outcome struct {
	result Result
	err    error
}

// runLocked runs the whole ptrace sequence on one OS thread, because the
// kernel binds a tracee to the tracing thread. The thread stays locked, and
// Go terminates it when this goroutine returns, if the parent could not be
// detached. The kernel then detaches every tracee of the thread.
func runLocked(ctx context.Context, tid, childNS int, log *slog.Logger, done chan<- outcome) {
	runtime.LockOSThread()
	if unix.Gettid() == unix.Getpid() {
		// Go parks the main thread forever instead of ending it, so trace
		// from another thread. Holding the lock here keeps the new
		// goroutine off the main thread.
		inner := make(chan outcome, 1)
		go runLocked(ctx, tid, childNS, log, inner)
		out := <-inner
		runtime.UnlockOSThread()
		done <- out
		return
	}

	s := &session{tid: tid, log: log}
	result, err := s.run(ctx, childNS)
	if s.attached {
		log.Warn("leaving parent to the kernel by ending the tracing thread",
			"tid", tid, "error", err)
	} else {
		runtime.UnlockOSThread()
	}
	done <- outcome{result, err}
}

func validate(parent, childNS int, opts Options) error {
	if !archSupported {
		return fmt.Errorf("%s: %w", runtime.GOARCH, ErrUnsupportedArch)
	}
	if parent <= 0 {
		return fmt.Errorf("parent %d: %w", parent, ErrInvalidPID)
	}
	if childNS <= 0 {
		return fmt.Errorf("child %d: %w", childNS, ErrInvalidPID)
	}
	if parent == 1 && !opts.AllowInit {
		return fmt.Errorf("set Options.AllowInit to reap for it: %w", ErrInitProcess)
	}
	if parent == os.Getpid() {
		return fmt.Errorf("parent %d is the calling process: %w", parent, ErrInvalidPID)
	}
	return nil
}
