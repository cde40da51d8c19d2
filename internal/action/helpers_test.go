//go:build linux

package action

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/scenario"
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
	for {
		pid, err := unix.Wait4(-1, nil, unix.WALL|unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			break
		}
	}
	if err := scenario.RemoveBinary(); err != nil {
		code = 1
	}
	os.Exit(code)
}

// actionLog collects the records that an Engine emits.
type actionLog struct {
	mu      sync.Mutex
	records []report.Record
	changed chan struct{}
}

func newActionLog() *actionLog { return &actionLog{changed: make(chan struct{})} }

func (l *actionLog) add(r report.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r)
	close(l.changed)
	l.changed = make(chan struct{})
}

func (l *actionLog) all() []report.Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]report.Record(nil), l.records...)
}

// wait returns the first record with the outcome for zombie pid, waiting up
// to timeout, and fails the test if none arrives.
func (l *actionLog) wait(t *testing.T, pid uint32, outcome string, timeout time.Duration) report.Record {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		changed := l.changed
		for _, r := range l.records {
			if r.Zombie.PID == pid && r.Action != nil && r.Action.Outcome == outcome {
				l.mu.Unlock()
				return r
			}
		}
		l.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no %s action record for zombie %d within %s; got:\n%s", outcome, pid, timeout,
				describeActions(l.all()))
			return report.Record{}
		}
	}
}

func (l *actionLog) outcomes(pid uint32) []string {
	var out []string
	for _, r := range l.all() {
		if r.Zombie.PID == pid {
			out = append(out, r.Action.Outcome)
		}
	}
	return out
}

func describeActions(records []report.Record) string {
	var b strings.Builder
	for _, r := range records {
		fmt.Fprintf(&b, "  zombie=%d parent=%d %+v\n", r.Zombie.PID, r.Parent.PID, *r.Action)
	}
	return b.String()
}

// startEngine creates an engine for cfg, runs it until the test ends and
// returns it with the log of its records.
func startEngine(t *testing.T, cfg Config) (*Engine, *actionLog) {
	t.Helper()
	actions := newActionLog()
	cfg.Emit = actions.add
	e, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	run(t, e)
	return e, actions
}

func run(t *testing.T, e *Engine) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// feeder passes tracker records to an engine, but only those whose parent
// the test started: the tracer sees every zombie on the machine, and the
// tests must not act on processes of others. Records that arrive before
// the test has its parent's PID are held and replayed by allow.
type feeder struct {
	mu      sync.Mutex
	engine  *Engine
	parents map[uint32]bool
	held    []report.Record
}

func newFeeder() *feeder { return &feeder{parents: make(map[uint32]bool)} }

func (f *feeder) observe(r report.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.Parent != nil && f.parents[r.Parent.PID] && f.engine != nil {
		f.engine.Observe(r)
		return
	}
	f.held = append(f.held, r)
}

// allow starts passing the records of parent pid to e.
func (f *feeder) allow(e *Engine, pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.engine = e
	f.parents[uint32(pid)] = true
	var rest []report.Record
	for _, r := range f.held {
		if r.Parent != nil && f.parents[r.Parent.PID] {
			e.Observe(r)
		} else {
			rest = append(rest, r)
		}
	}
	f.held = rest
}

// zombieState returns the state letter of pid in /proc, or 0 when pid does
// not exist.
func zombieState(pid uint32) byte {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	closing := strings.LastIndexByte(string(data), ')')
	if closing < 0 || closing+2 >= len(data) {
		return 0
	}
	return data[closing+2]
}

// nsProcess is a program running as PID 1 of its own PID namespace under
// unshare --pid --fork --kill-child.
type nsProcess struct {
	cmd     *exec.Cmd
	pid     int // the program, in the test's PID namespace
	pidfd   int
	stdin   io.WriteCloser
	lines   chan string
	release chan struct{}
}

// startInNamespace starts argv as PID 1 of a new PID namespace and waits
// for its first line starting with "ready". It kills the namespace at the
// end of the test.
func startInNamespace(t *testing.T, argv ...string) (*nsProcess, string) {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skipf("unshare not found: %v", err)
	}
	p := &nsProcess{pidfd: -1, lines: make(chan string, 1024), release: make(chan struct{})}
	p.cmd = exec.Command("unshare", append([]string{"--pid", "--fork", "--kill-child", "--"}, argv...)...)
	p.cmd.SysProcAttr = &unix.SysProcAttr{Pdeathsig: unix.SIGKILL}
	p.cmd.Stderr = os.Stderr
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// Pdeathsig fires when the thread that forked unshare exits, so that
	// thread stays locked until cleanup.
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
	if err := <-started; err != nil {
		t.Fatalf("start %v: %v", p.cmd.Args, err)
	}
	t.Cleanup(p.stop)
	go func() {
		defer close(p.lines)
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			select {
			case p.lines <- scanner.Text():
			default:
			}
		}
	}()
	ready := p.waitLine(t, "ready", 60*time.Second)
	p.pid = onlyChild(t, p.cmd.Process.Pid)
	if p.pidfd, err = unix.PidfdOpen(p.pid, 0); err != nil {
		t.Fatalf("pidfd_open %d: %v", p.pid, err)
	}
	return p, ready
}

// waitLine returns the next output line that starts with prefix.
func (p *nsProcess) waitLine(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("%v closed stdout before a line starting with %q", p.cmd.Args, prefix)
			}
			if strings.HasPrefix(line, prefix) {
				return line
			}
		case <-deadline:
			t.Fatalf("%v printed no line starting with %q within %s", p.cmd.Args, prefix, timeout)
		}
	}
}

func (p *nsProcess) stop() {
	if p.pidfd >= 0 {
		// ESRCH only means that the program has already exited.
		_ = unix.PidfdSendSignal(p.pidfd, unix.SIGKILL, nil, 0)
		unix.Close(p.pidfd)
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	close(p.release)
}

func onlyChild(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		t.Fatalf("read children of %d: %v", pid, err)
	}
	fields := strings.Fields(string(data))
	if len(fields) != 1 {
		t.Fatalf("unshare %d has children %q, want one", pid, fields)
	}
	child, err := strconv.Atoi(fields[0])
	if err != nil {
		t.Fatal(err)
	}
	return child
}

// zombieChildren returns the children of pid that are zombies.
func zombieChildren(t *testing.T, pid int) []int {
	t.Helper()
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil {
		t.Fatal(err)
	}
	var zombies []int
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(data)) {
			child, _ := strconv.Atoi(field)
			if zombieState(uint32(child)) == 'Z' {
				zombies = append(zombies, child)
			}
		}
	}
	return zombies
}

// buildC compiles a C file of testdata into a temporary directory.
func buildC(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".c"))
	out, err := exec.Command("cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", bin,
		filepath.Join("testdata", name)).CombinedOutput()
	if err != nil {
		t.Fatalf("build testdata/%s: %v\n%s", name, err, out)
	}
	return bin
}
