// Package scenario runs zombiegen, a small C program that creates real zombie
// processes, so that tests can observe them through /proc or a tracer.
//
// Start compiles zombiegen.c with the system C compiler once per test binary,
// starts one mode and parses the line "ready key=value ..." that the program
// prints once the situation exists. Modes:
//
//   - nowait: the parent forks children that exit and never waits for them.
//   - reap: the parent reaps each child with waitpid(pid), so no zombie remains.
//   - sigign: SIGCHLD is SIG_IGN, so the kernel reaps the children.
//   - nocldwait: SA_NOCLDWAIT with a handler, so the kernel reaps the children.
//   - doublefork-subreaper: a child subreaper waits for its middle child only,
//     then adopts the grandchildren, which exit and stay zombies.
//   - nsinit-waitspecific: PID 1 of a new PID namespace waits for its worker
//     child by PID, then polls another child with waitpid(pid, WNOHANG) every
//     100 ms. The worker's children are adopted by PID 1 and stay zombies.
//   - handler-coalesce: a SIGCHLD handler calls waitpid(-1, WNOHANG) once per
//     signal, and all but one of the children stay zombies.
//   - stopped: the parent of the zombies is stopped by SIGSTOP.
//   - thread-leader: a child's main thread calls pthread_exit while another
//     thread runs, so the thread-group leader shows state Z.
//   - traced: the zombies are ptrace-attached by a sibling that never waits.
//   - nowait-exec: like nowait, but each child execs /bin/sh -c 'exit N' with
//     the arguments given after "--".
//
// Options, passed as args to Start: --count N (zombies, 1..64; default 1,
// or 4 for handler-coalesce), --exit-code N (exit status of each zombie),
// --delay-ms N and --wait-go. The last two hold the scenario after the parent
// is set up and before the first child is forked, so that a tracer can attach
// first. With --wait-go, Start returns before the ready line and Run.Go
// releases the scenario.
//
// zombiegen runs in its own process group under a guard process, which is a
// child subreaper, reaps every orphan and exits with status 3 if any process
// survived the scenario's cleanup. Run.Stop reports that as a test error.
package scenario

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Modes lists every mode that zombiegen implements.
var Modes = []string{
	"nowait",
	"reap",
	"sigign",
	"nocldwait",
	"doublefork-subreaper",
	"nsinit-waitspecific",
	"handler-coalesce",
	"stopped",
	"thread-leader",
	"traced",
	"nowait-exec",
}

//go:embed zombiegen.c
var source []byte

// cflags are the compiler flags used to build zombiegen.
var cflags = []string{"-O1", "-Wall", "-Werror", "-pthread"}

const (
	// readyTimeout bounds the wait for the ready line.
	readyTimeout = 15 * time.Second
	// stopTimeout bounds the wait for zombiegen to exit after SIGTERM. The
	// guard inside zombiegen SIGKILLs the scenario after 5 s, so this is
	// only reached when the guard itself hangs.
	stopTimeout = 15 * time.Second
)

var build struct {
	once   sync.Once
	dir    string
	path   string
	output string
	err    error
	noCC   bool
}

// Binary returns the path of the zombiegen executable. It compiles the
// embedded source on the first call and skips the test if neither cc nor gcc
// is installed. The build error, if any, fails every call.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(compile)
	if build.noCC {
		t.Skip("skipping: no C compiler (cc or gcc) in PATH to build zombiegen")
	}
	if build.err != nil {
		t.Fatalf("build zombiegen: %v\n%s", build.err, build.output)
	}
	return build.path
}

func compile() {
	compiler, err := exec.LookPath("cc")
	if err != nil {
		compiler, err = exec.LookPath("gcc")
	}
	if err != nil {
		build.noCC = true
		return
	}

	dir, err := os.MkdirTemp("", "zombiegen-")
	if err != nil {
		build.err = err
		return
	}
	build.dir = dir
	src := filepath.Join(dir, "zombiegen.c")
	if err := os.WriteFile(src, source, 0o600); err != nil {
		build.err = err
		return
	}

	out := filepath.Join(dir, "zombiegen")
	args := append(append([]string{}, cflags...), "-o", out, src)
	output, err := exec.Command(compiler, args...).CombinedOutput()
	build.output = string(output)
	if err != nil {
		build.err = fmt.Errorf("%s %s: %w", compiler, strings.Join(args, " "), err)
		return
	}
	build.path = out
}

// RemoveBinary deletes the directory that holds the compiled zombiegen. Call
// it from TestMain after m.Run, because the directory outlives the tests
// otherwise.
func RemoveBinary() error {
	if build.dir == "" {
		return nil
	}
	return os.RemoveAll(build.dir)
}

// Run is one running zombiegen scenario. The PID fields are host PIDs, as seen
// from the test's PID namespace, and are zero where the mode has no such
// process.
type Run struct {
	// Mode is the zombiegen mode.
	Mode string
	// Parent is the parent process of the zombies, or the process that
	// reaped its children in reap, sigign and nocldwait.
	Parent int
	// Init is the PID-namespace init in nsinit-waitspecific.
	Init int
	// Creator is the zombies' original parent where it differs from Parent.
	Creator int
	// Tracer is the ptrace tracer of the zombies in traced.
	Tracer int
	// Zombies are the zombie PIDs. In reap, sigign and nocldwait they are
	// the children that exited and were already reaped.
	Zombies []int
	// NSZombies are the zombies' PIDs inside the new PID namespace, in the
	// order of Zombies.
	NSZombies []int
	// Fields contains every key=value pair of the ready line, the ones above
	// and the mode-specific ones.
	Fields map[string]string
	// Cmd is the zombiegen guard process. Its PID is also its process group.
	Cmd *exec.Cmd

	t        testing.TB
	stdin    io.WriteCloser
	ready    chan string // receives the ready line, closed at stdout EOF
	exited   chan struct{}
	waitErr  error
	stderr   lockedBuffer
	stopOnce sync.Once
}

// Start builds zombiegen if needed and starts mode with the given options.
// Unless args contain --wait-go, it returns once the scenario printed its
// ready line, with the fields filled in. It registers Stop with t.Cleanup and
// fails the test if the scenario does not get ready within 15 s.
func Start(t testing.TB, mode string, args ...string) *Run {
	t.Helper()
	bin := Binary(t)

	r := &Run{
		Mode:   mode,
		t:      t,
		ready:  make(chan string, 1),
		exited: make(chan struct{}),
	}
	r.Cmd = exec.Command(bin, append([]string{mode}, args...)...)
	r.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r.Cmd.Stderr = &r.stderr
	// Bounds the wait for stderr to close if a process outlives zombiegen.
	r.Cmd.WaitDelay = 5 * time.Second

	stdin, err := r.Cmd.StdinPipe()
	if err != nil {
		t.Fatalf("zombiegen %s: stdin pipe: %v", mode, err)
	}
	r.stdin = stdin
	// A pipe of our own, not StdoutPipe, because Wait must not close it while
	// the reader still runs.
	stdoutReader, stdoutWriter, err := os.Pipe()
	if err != nil {
		t.Fatalf("zombiegen %s: stdout pipe: %v", mode, err)
	}
	r.Cmd.Stdout = stdoutWriter

	if err := r.Cmd.Start(); err != nil {
		stdoutReader.Close()
		stdoutWriter.Close()
		t.Fatalf("start zombiegen %s: %v", mode, err)
	}
	stdoutWriter.Close()
	t.Cleanup(r.Stop)

	go r.readStdout(stdoutReader)
	go func() {
		r.waitErr = r.Cmd.Wait()
		close(r.exited)
	}()

	for _, arg := range args {
		if arg == "--" {
			break
		}
		if arg == "--wait-go" {
			return r
		}
	}
	r.awaitReady()
	return r
}

// readStdout sends the first ready line to r.ready and reads stdout to EOF.
func (r *Run) readStdout(stdout *os.File) {
	defer stdout.Close()
	defer close(r.ready)

	// zombiegen prints nothing but the ready line, so other lines are
	// dropped. Logging them could panic after the test has ended.
	scanner := bufio.NewScanner(stdout)
	sent := false
	for scanner.Scan() {
		line := scanner.Text()
		if !sent && strings.HasPrefix(line, "ready ") {
			r.ready <- line
			sent = true
		}
	}
}

// Go writes "go" to the scenario's stdin, which releases a scenario started
// with --wait-go, and waits for the ready line.
func (r *Run) Go() {
	r.t.Helper()
	if _, err := io.WriteString(r.stdin, "go\n"); err != nil {
		r.t.Fatalf("zombiegen %s: write go: %v; stderr:\n%s", r.Mode, err, r.stderr.String())
	}
	r.awaitReady()
}

func (r *Run) awaitReady() {
	r.t.Helper()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()

	select {
	case line, ok := <-r.ready:
		if !ok {
			// Stdout reached EOF, so the process has exited or is exiting.
			status := "still running"
			select {
			case <-r.exited:
				status = fmt.Sprint(r.waitErr)
			case <-time.After(time.Second):
			}
			r.t.Fatalf("zombiegen %s closed stdout without a ready line (%s); stderr:\n%s",
				r.Mode, status, r.stderr.String())
		}
		if err := r.parseReady(line); err != nil {
			r.t.Fatalf("zombiegen %s: %v", r.Mode, err)
		}
	case <-timer.C:
		r.t.Fatalf("zombiegen %s printed no ready line within %v; stderr:\n%s",
			r.Mode, readyTimeout, r.stderr.String())
	}
}

// parseReady fills the fields of r from a line "ready key=value ...".
func (r *Run) parseReady(line string) error {
	r.Fields = make(map[string]string)
	for _, word := range strings.Fields(strings.TrimPrefix(line, "ready ")) {
		key, value, ok := strings.Cut(word, "=")
		if !ok {
			return fmt.Errorf("invalid ready field %q in %q", word, line)
		}
		r.Fields[key] = value
	}

	ints := []struct {
		key string
		dst *int
	}{
		{"parent", &r.Parent},
		{"init", &r.Init},
		{"creator", &r.Creator},
		{"tracer", &r.Tracer},
	}
	for _, field := range ints {
		value, ok := r.Fields[field.key]
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(value)
		if err != nil {
			return fmt.Errorf("invalid %s=%q in ready line: %w", field.key, value, err)
		}
		*field.dst = pid
	}

	var err error
	if r.Zombies, err = r.PIDList("zombies"); err != nil {
		return err
	}
	if r.NSZombies, err = r.PIDList("ns_zombies"); err != nil {
		return err
	}
	return nil
}

// PIDList parses the comma-separated PID list of a ready field. It returns nil
// for a missing or empty field.
func (r *Run) PIDList(key string) ([]int, error) {
	value := r.Fields[key]
	if value == "" {
		return nil, nil
	}
	var pids []int
	for _, item := range strings.Split(value, ",") {
		pid, err := strconv.Atoi(item)
		if err != nil {
			return nil, fmt.Errorf("invalid PID %q in %s=%s: %w", item, key, value, err)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}

// PIDs returns every host PID that the ready line names: the parent, init,
// creator, tracer, zombies and any other PID field, without duplicates.
// Fields with namespace PIDs (ns_*) and counts are left out.
func (r *Run) PIDs() []int {
	seen := make(map[int]bool)
	var pids []int
	for key := range r.Fields {
		if strings.HasPrefix(key, "ns_") || key == "mode" || key == "signals" ||
			key == "threads_alive" || key == "exit_status" {
			continue
		}
		list, err := r.PIDList(key)
		if err != nil {
			continue
		}
		for _, pid := range list {
			if pid > 0 && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// Stderr returns what zombiegen has written to stderr so far.
func (r *Run) Stderr() string {
	return r.stderr.String()
}

// Stop ends the scenario: it closes stdin, sends SIGTERM and waits for
// zombiegen to clean up and exit. After 15 s it SIGKILLs the process groups
// of zombiegen and of its scenario. It reports a non-zero exit status, which
// includes processes that survived the cleanup, with t.Errorf. Death by a
// SIGTERM that arrived before zombiegen blocked it is not an error. Start
// registers Stop with t.Cleanup, and later calls do nothing.
func (r *Run) Stop() {
	r.stopOnce.Do(r.stop)
}

func (r *Run) stop() {
	r.stdin.Close()
	if err := r.Cmd.Process.Signal(syscall.SIGTERM); err != nil &&
		!errors.Is(err, os.ErrProcessDone) {
		r.t.Errorf("zombiegen %s: send SIGTERM: %v", r.Mode, err)
	}

	select {
	case <-r.exited:
	case <-time.After(stopTimeout):
		r.t.Errorf("zombiegen %s did not exit within %v of SIGTERM; killing its process groups; stderr:\n%s",
			r.Mode, stopTimeout, r.stderr.String())
		r.killGroups()
		select {
		case <-r.exited:
		case <-time.After(stopTimeout):
			r.t.Errorf("zombiegen %s (pid %d) survived SIGKILL", r.Mode, r.Cmd.Process.Pid)
			return
		}
	}
	if r.waitErr != nil && !killedBeforeSetup(r.Cmd.ProcessState) {
		r.t.Errorf("zombiegen %s: %v; stderr:\n%s", r.Mode, r.waitErr, r.stderr.String())
	}
}

// killedBeforeSetup reports whether SIGTERM killed zombiegen. zombiegen blocks
// SIGTERM before it forks anything, so this happens only when Stop runs right
// after Start and leaves no process behind.
func killedBeforeSetup(state *os.ProcessState) bool {
	if state == nil {
		return false
	}
	waitStatus, ok := state.Sys().(syscall.WaitStatus)
	return ok && waitStatus.Signaled() && waitStatus.Signal() == syscall.SIGTERM
}

// killGroups SIGKILLs the scenario's process group, whose ID is the PID of
// the guard's child, and then the guard's own group.
// NOTE: processes that were children of the killed guard are reparented to
// the machine's init and wait there to be reaped.
func (r *Run) killGroups() {
	guard := r.Cmd.Process.Pid
	children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", guard, guard))
	for _, field := range strings.Fields(string(children)) {
		pid, err := strconv.Atoi(field)
		if err != nil {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err == nil && pgid != syscall.Getpgrp() {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
	_ = syscall.Kill(-guard, syscall.SIGKILL)
}

// lockedBuffer is a bytes.Buffer that exec's copying goroutine may write while
// a test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
