//go:build linux

package reaper

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Values fixed by testdata/parent.c and testdata/goparent.
const (
	zombieExitCode = 7
	workRounds     = 100_000_000
	payloadSize    = 1 << 20
	cldExited      = 1 // CLD_EXITED from <signal.h>
)

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		// Descendants orphaned by a failed test are reparented to this
		// process, never to the machine's PID 1, and reaped below.
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "set child subreaper:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	reapOrphans()
	os.Exit(code)
}

// reapOrphans collects any descendant that was reparented to the test process.
func reapOrphans() {
	for {
		pid, err := unix.Wait4(-1, nil, unix.WALL|unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("ptrace of processes in a new pid namespace needs root")
	}
	for _, tool := range []string{"gcc", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: %v", tool, err)
		}
	}
}

// buildParent compiles testdata/parent.c into a temporary directory.
func buildParent(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "parent")
	out, err := exec.Command("gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread",
		"-o", bin, filepath.Join("testdata", "parent.c")).CombinedOutput()
	if err != nil {
		t.Fatalf("build testdata/parent.c: %v\n%s", err, out)
	}
	return bin
}

// testParent is a test parent running as PID 1 of its own PID namespace,
// under unshare --pid --fork --kill-child.
type testParent struct {
	t        *testing.T
	cmd      *exec.Cmd
	pidfd    int
	pid      int // parent, in the test's pid namespace
	zombie   int // zombie child, in the test's pid namespace
	zombieNS int // zombie child, in the parent's pid namespace
	ready    []int
	stdin    io.WriteCloser
	stdout   *bufio.Reader
	stderr   bytes.Buffer
	release  chan struct{}
	waited   bool
}

func startParent(t *testing.T, bin string, args ...string) *testParent {
	t.Helper()
	argv := append([]string{"--pid", "--fork", "--kill-child", "--", bin}, args...)
	p := &testParent{t: t, pidfd: -1, cmd: exec.Command("unshare", argv...), release: make(chan struct{})}
	p.cmd.Stderr = &p.stderr
	p.cmd.SysProcAttr = &unix.SysProcAttr{Pdeathsig: unix.SIGKILL}
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin, p.stdout = stdin, bufio.NewReaderSize(stdout, 64<<10)

	if err := p.startOnLockedThread(); err != nil {
		t.Fatalf("start %v: %v", p.cmd.Args, err)
	}
	t.Cleanup(p.cleanup)

	p.ready = p.readReady()
	p.pid = onlyChild(t, p.cmd.Process.Pid)
	p.pidfd, err = unix.PidfdOpen(p.pid, 0)
	if err != nil {
		t.Fatalf("pidfd_open %d: %v", p.pid, err)
	}
	p.zombieNS = p.ready[0]
	p.zombie = hostPID(t, p.pid, p.zombieNS)
	return p
}

// startOnLockedThread starts the command from a thread that stays locked
// until cleanup. Pdeathsig fires when the forking thread exits, and Reap ends
// its tracing thread on some failure paths.
func (p *testParent) startOnLockedThread() error {
	started := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := p.cmd.Start()
		started <- err
		if err == nil {
			<-p.release
		}
	}()
	return <-started
}

func (p *testParent) readReady() []int {
	p.t.Helper()
	type lineResult struct {
		line string
		err  error
	}
	lines := make(chan lineResult, 1)
	go func() {
		line, err := p.stdout.ReadString('\n')
		lines <- lineResult{line, err}
	}()
	select {
	case got := <-lines:
		fields := strings.Fields(got.line)
		if got.err != nil || len(fields) < 2 || fields[0] != "ready" {
			p.t.Fatalf("parent did not print ready: %q, %v, stderr %q", got.line, got.err, p.stderr.String())
		}
		pids := make([]int, 0, len(fields)-1)
		for _, field := range fields[1:] {
			pid, err := strconv.Atoi(field)
			if err != nil {
				p.t.Fatalf("parse ready line %q: %v", got.line, err)
			}
			pids = append(pids, pid)
		}
		return pids
	case <-time.After(30 * time.Second):
		p.t.Fatal("parent did not print ready within 30s")
		return nil
	}
}

func (p *testParent) cleanup() {
	if p.pidfd >= 0 {
		// ESRCH only means the parent has already exited.
		_ = unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
		unix.Close(p.pidfd)
	}
	if !p.waited {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
	close(p.release)
}

// finish writes payload to the parent's stdin, closes it and returns all
// that the parent prints until it exits.
func (p *testParent) finish(payload []byte) string {
	p.t.Helper()
	go func() {
		_, _ = p.stdin.Write(payload)
		_ = p.stdin.Close()
	}()
	done := make(chan []byte, 1)
	go func() {
		out, _ := io.ReadAll(p.stdout)
		done <- out
	}()
	var out []byte
	select {
	case out = <-done:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("parent did not exit within 60s, stderr %q", p.stderr.String())
	}
	err := p.cmd.Wait()
	p.waited = true
	if err != nil {
		p.t.Fatalf("parent failed: %v\nstdout %q\nstderr %q", err, out, p.stderr.String())
	}
	return string(out)
}

// onlyChild returns the single child of pid, waiting for it to appear.
func onlyChild(t *testing.T, pid int) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		children := childrenOf(t, pid)
		if len(children) == 1 {
			return children[0]
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("process %d has no single child", pid)
	return 0
}

func childrenOf(t *testing.T, pid int) []int {
	t.Helper()
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		t.Fatal(err)
	}
	var all []int
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		children, err := parseInts(string(data))
		if err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
		all = append(all, children...)
	}
	return all
}

// hostPID maps childNS, a child of parent in the parent's pid namespace, to
// its PID in the test's namespace.
func hostPID(t *testing.T, parent, childNS int) int {
	t.Helper()
	for _, child := range childrenOf(t, parent) {
		st, err := readStatus(fmt.Sprintf("/proc/%d/status", child))
		if err == nil && len(st.nsPID) > 0 && st.nsPID[len(st.nsPID)-1] == childNS {
			return child
		}
	}
	t.Fatalf("parent %d has no child %d", parent, childNS)
	return 0
}

// waitSleeping waits until the thread-group leader of pid is in state S,
// that is blocked in a system call.
func waitSleeping(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		st, err := readStatus(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatalf("read parent status: %v", err)
		}
		if st.state == 'S' {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("parent %d did not block within 10s", pid)
}

func tracerPIDs(t *testing.T, pid int) map[int]int {
	t.Helper()
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatalf("list threads of %d: %v", pid, err)
	}
	tracers := map[int]int{}
	for _, task := range tasks {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, task.Name()))
		if err != nil {
			continue
		}
		for line := range strings.SplitSeq(string(data), "\n") {
			if value, ok := strings.CutPrefix(line, "TracerPid:"); ok {
				tid, _ := strconv.Atoi(task.Name())
				tracers[tid], _ = strconv.Atoi(strings.TrimSpace(value))
			}
		}
	}
	return tracers
}

func assertUntraced(t *testing.T, pid int) {
	t.Helper()
	for tid, tracer := range tracerPIDs(t, pid) {
		if tracer != 0 {
			t.Errorf("thread %d of parent %d has TracerPid %d, want 0", tid, pid, tracer)
		}
	}
}

func assertZombieGone(t *testing.T, zombie int) {
	t.Helper()
	st, err := readStatus(fmt.Sprintf("/proc/%d/status", zombie))
	if err == nil && st.state == 'Z' {
		t.Errorf("zombie %d is still in state Z", zombie)
	}
}

func assertReaped(t *testing.T, r Result, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("Reap: %v (result %+v)", err, r)
	}
	if !r.Reaped {
		t.Errorf("Reaped = false, want true")
	}
	if r.Status != zombieExitCode {
		t.Errorf("Status = %d, want %d", r.Status, zombieExitCode)
	}
	if r.Code != cldExited {
		t.Errorf("Code = %d, want CLD_EXITED", r.Code)
	}
}

func testPayload() []byte {
	payload := make([]byte, payloadSize)
	x := uint32(12345)
	for i := range payload {
		x = x*1103515245 + 12345
		payload[i] = byte(x >> 16)
	}
	return payload
}

func sumLine(payload []byte) string {
	h := fnv.New64a()
	h.Write(payload)
	return fmt.Sprintf("sum %016x bytes %d", h.Sum64(), len(payload))
}

func xorshift(x uint64, rounds int) uint64 {
	for range rounds {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// workLine is the "work" line of a parent whose threads run xorshift from
// seeds 1 to threads.
func workLine(threads int) string {
	var work uint64
	for i := range threads {
		work ^= xorshift(uint64(i)+1, workRounds)
	}
	return fmt.Sprintf("work %016x", work)
}

func assertLine(t *testing.T, out, want string) {
	t.Helper()
	if !slices.Contains(strings.Split(out, "\n"), want) {
		t.Errorf("parent output lacks %q:\n%s", want, out)
	}
}

type blockedCase struct {
	name string
	args []string
	// interrupted lists the acceptable Result.Interrupted values on amd64,
	// where glibc picks the system call.
	interrupted []string
	// delay lets the parent spend part of a timed wait before Reap.
	delay time.Duration
	check func(t *testing.T, out string)
}

func TestReapBlockedParent(t *testing.T) {
	requireRoot(t)
	bin := buildParent(t)
	payload := testPayload()

	cases := []blockedCase{
		{name: "read", args: []string{"read"}, interrupted: []string{"read"}},
		{
			name: "nanosleep", args: []string{"nanosleep", "1500"},
			interrupted: []string{"nanosleep", "clock_nanosleep"},
			delay:       500 * time.Millisecond,
			check:       checkSlept(1500, 1800),
		},
		{name: "epoll", args: []string{"epoll"}, interrupted: []string{"epoll_wait", "epoll_pwait"}},
		{name: "poll", args: []string{"poll"}, interrupted: []string{"poll", "ppoll"}},
		{
			name: "waitpid", args: []string{"waitpid"}, interrupted: []string{"wait4"},
			check: func(t *testing.T, out string) { assertLine(t, out, "worker exit 42") },
		},
		{
			name: "threads", args: []string{"threads"}, interrupted: []string{"futex"},
			check: func(t *testing.T, out string) { assertLine(t, out, workLine(3)) },
		},
		{name: "seccomp", args: []string{"seccomp"}, interrupted: []string{"read"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startParent(t, bin, tc.args...)
			waitSleeping(t, p.pid)
			time.Sleep(tc.delay)

			r, err := Reap(context.Background(), p.pid, p.zombieNS)
			assertReaped(t, r, err)
			assertInterrupted(t, r, tc.interrupted)
			assertUntraced(t, p.pid)
			assertZombieGone(t, p.zombie)
			t.Logf("result %+v", r)

			out := p.finish(payload)
			assertLine(t, out, sumLine(payload))
			assertLine(t, out, "final ECHILD")
			if strings.Contains(out, "EINTR") {
				t.Errorf("parent saw EINTR from a call that the kernel restarts:\n%s", out)
			}
			if tc.check != nil {
				tc.check(t, out)
			}
		})
	}
}

func assertInterrupted(t *testing.T, r Result, want []string) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		return
	}
	if !slices.Contains(want, r.Interrupted) {
		t.Errorf("Interrupted = %q, want one of %q", r.Interrupted, want)
	}
	if r.InterruptedReturn >= 0 {
		t.Errorf("InterruptedReturn = %d, want a negative restart code or -EINTR", r.InterruptedReturn)
	}
}

// checkSlept returns a check that the parent slept at least the requested
// time and less than limit: a nanosleep restarted with its full duration
// after Reap would exceed limit.
func checkSlept(requested, limit int) func(t *testing.T, out string) {
	return func(t *testing.T, out string) {
		t.Helper()
		for line := range strings.SplitSeq(out, "\n") {
			value, ok := strings.CutPrefix(line, "slept_ms ")
			if !ok {
				continue
			}
			slept, err := strconv.Atoi(value)
			if err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			if slept < requested || slept >= limit {
				t.Errorf("parent slept %d ms, want [%d, %d)", slept, requested, limit)
			}
			return
		}
		t.Errorf("parent output lacks slept_ms:\n%s", out)
	}
}

func TestReapGoParent(t *testing.T) {
	requireRoot(t)
	bin := filepath.Join(t.TempDir(), "goparent")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/goparent").CombinedOutput()
	if err != nil {
		t.Fatalf("build testdata/goparent: %v\n%s", err, out)
	}
	payload := testPayload()

	p := startParent(t, bin)
	waitSleeping(t, p.pid)

	r, err := Reap(context.Background(), p.pid, p.zombieNS)
	assertReaped(t, r, err)
	assertUntraced(t, p.pid)
	assertZombieGone(t, p.zombie)
	t.Logf("result %+v", r)

	got := p.finish(payload)
	assertLine(t, got, sumLine(payload))
	assertLine(t, got, workLine(4))
	assertLine(t, got, "final ECHILD")
}

func TestReapTracedParentRefused(t *testing.T) {
	requireRoot(t)
	bin := buildParent(t)
	payload := testPayload()
	p := startParent(t, bin, "read")
	waitSleeping(t, p.pid)

	tracer := seizeFromOtherThread(t, p.pid)
	r, err := Reap(context.Background(), p.pid, p.zombieNS)
	if !errors.Is(err, ErrPtraceRefused) {
		t.Fatalf("Reap error = %v, want ErrPtraceRefused", err)
	}
	if r.Reaped {
		t.Errorf("Reaped = true after a refused seize")
	}
	if got := tracerPIDs(t, p.pid)[p.pid]; got != tracer.tid {
		t.Errorf("TracerPid = %d, want the other tracer %d", got, tracer.tid)
	}
	if st, err := readStatus(fmt.Sprintf("/proc/%d/status", p.zombie)); err != nil || st.state != 'Z' {
		t.Errorf("zombie %d: state %c, error %v, want state Z", p.zombie, st.state, err)
	}

	tracer.stop(t, p.pid)
	out := p.finish(payload)
	assertLine(t, out, sumLine(payload))
	assertLine(t, out, fmt.Sprintf("final reaped pid %d status %d", p.zombieNS, zombieExitCode))
}

// otherTracer is a thread of the test process that has seized a parent.
type otherTracer struct {
	tid  int
	done chan struct{}
}

// seizeFromOtherThread seizes pid from a locked thread that detaches it
// when stop is called.
func seizeFromOtherThread(t *testing.T, pid int) *otherTracer {
	t.Helper()
	tracer := &otherTracer{done: make(chan struct{})}
	seized := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tracer.tid = unix.Gettid()
		err := unix.PtraceSeize(pid)
		seized <- err
		if err != nil {
			return
		}
		<-tracer.done
		// PTRACE_DETACH needs a stopped tracee.
		if err := unix.PtraceInterrupt(pid); err != nil {
			return
		}
		if _, err := unix.Wait4(pid, nil, unix.WALL, nil); err != nil {
			return
		}
		_ = unix.PtraceDetach(pid)
	}()
	if err := <-seized; err != nil {
		t.Fatalf("seize %d from another thread: %v", pid, err)
	}
	return tracer
}

func (tracer *otherTracer) stop(t *testing.T, pid int) {
	t.Helper()
	close(tracer.done)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if tracerPIDs(t, pid)[pid] == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("other tracer still attached to %d", pid)
}

func TestReapRejectsArguments(t *testing.T) {
	cases := []struct {
		name    string
		parent  int
		child   int
		wantErr error
	}{
		{name: "init of own namespace", parent: 1, child: 2, wantErr: ErrInitProcess},
		{name: "zero parent", parent: 0, child: 2, wantErr: ErrInvalidPID},
		{name: "negative child", parent: 2, child: -1, wantErr: ErrInvalidPID},
		{name: "self", parent: os.Getpid(), child: 2, wantErr: ErrInvalidPID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Reap(context.Background(), tc.parent, tc.child)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("Reap(%d, %d) error = %v, want %v", tc.parent, tc.child, err, tc.wantErr)
			}
		})
	}
}

func TestReapWrongChild(t *testing.T) {
	requireRoot(t)
	bin := buildParent(t)
	payload := testPayload()
	p := startParent(t, bin, "waitpid")
	waitSleeping(t, p.pid)
	workerNS := liveChildNS(t, p)

	t.Run("live child", func(t *testing.T) {
		_, err := Reap(context.Background(), p.pid, workerNS)
		if !errors.Is(err, ErrNotZombie) {
			t.Errorf("Reap error = %v, want ErrNotZombie", err)
		}
	})
	t.Run("missing child", func(t *testing.T) {
		_, err := Reap(context.Background(), p.pid, 99999)
		if !errors.Is(err, ErrNoChild) {
			t.Errorf("Reap error = %v, want ErrNoChild", err)
		}
	})
	// The cases below skip the /proc check to exercise the injected waitid
	// with WNOHANG on children that it must not collect.
	t.Run("injected on live child", func(t *testing.T) {
		r, err := injectDirect(p.pid, workerNS)
		if !errors.Is(err, ErrNotZombie) {
			t.Errorf("injected waitid error = %v, want ErrNotZombie", err)
		}
		if r.Reaped {
			t.Errorf("Reaped = true for a live child")
		}
		assertUntraced(t, p.pid)
	})
	t.Run("injected on missing child", func(t *testing.T) {
		r, err := injectDirect(p.pid, 99999)
		if !errors.Is(err, ErrNoChild) {
			t.Errorf("injected waitid error = %v, want ErrNoChild", err)
		}
		if r.WaitReturn != -int64(unix.ECHILD) {
			t.Errorf("WaitReturn = %d, want -ECHILD", r.WaitReturn)
		}
		assertUntraced(t, p.pid)
	})

	out := p.finish(payload)
	assertLine(t, out, sumLine(payload))
	assertLine(t, out, "worker exit 42")
	assertLine(t, out, fmt.Sprintf("final reaped pid %d status %d", p.zombieNS, zombieExitCode))
	if strings.Contains(out, "EINTR") {
		t.Errorf("parent saw EINTR from waitpid:\n%s", out)
	}
}

func injectDirect(parent, childNS int) (Result, error) {
	done := make(chan outcome, 1)
	go runLocked(context.Background(), parent, childNS, slog.Default(), done)
	out := <-done
	return out.result, out.err
}

// liveChildNS returns the PID, in the parent's namespace, of the child of p
// that is not the zombie.
func liveChildNS(t *testing.T, p *testParent) int {
	t.Helper()
	for _, child := range childrenOf(t, p.pid) {
		if child == p.zombie {
			continue
		}
		st, err := readStatus(fmt.Sprintf("/proc/%d/status", child))
		if err != nil || st.state == 'Z' {
			continue
		}
		return st.nsPID[len(st.nsPID)-1]
	}
	t.Fatalf("parent %d has no live child", p.pid)
	return 0
}

// TestReapSoak injects 1,000 reaps into one busy parent. It runs only with
// ZOMBIETRACE_SOAK=1 and logs the time per reap.
func TestReapSoak(t *testing.T) {
	if os.Getenv("ZOMBIETRACE_SOAK") != "1" {
		t.Skip("set ZOMBIETRACE_SOAK=1 to run the soak test")
	}
	requireRoot(t)
	const reaps = 1000
	bin := buildParent(t)
	payload := testPayload()
	p := startParent(t, bin, "soak", strconv.Itoa(reaps))
	if len(p.ready) != reaps {
		t.Fatalf("parent created %d zombies, want %d", len(p.ready), reaps)
	}

	durations := make([]time.Duration, 0, reaps)
	interrupted := map[string]int{}
	attempts := 0
	start := time.Now()
	for _, zombieNS := range p.ready {
		r, err := Reap(context.Background(), p.pid, zombieNS)
		assertReaped(t, r, err)
		if t.Failed() {
			t.FailNow()
		}
		durations = append(durations, r.Duration)
		interrupted[r.Interrupted]++
		attempts += r.Attempts
	}
	wall := time.Since(start)
	assertUntraced(t, p.pid)

	out := p.finish(payload)
	assertLine(t, out, sumLine(payload))
	assertLine(t, out, workLine(2))
	assertLine(t, out, "zombies left 0")

	slices.Sort(durations)
	var total time.Duration
	for _, d := range durations {
		total += d
	}
	t.Logf("%d reaps in %v: mean %v, p50 %v, p99 %v, max %v, attempts %d, interrupted %v",
		reaps, wall, total/reaps, durations[reaps/2], durations[reaps*99/100], durations[reaps-1],
		attempts, interrupted)
}
