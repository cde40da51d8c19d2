package cli_test

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/zombietrace/zombietrace/internal/cli"
	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/scenario"
	"github.com/zombietrace/zombietrace/internal/tracetest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zombietrace-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "zombietrace")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/zombietrace")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("build zombietrace: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	if err := scenario.RemoveBinary(); err != nil {
		code = 1
	}
	os.Exit(code)
}

func TestMissingPrivilegesExitCode(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dropping privileges needs root")
	}
	// The binary must be reachable by the unprivileged user.
	if err := os.Chmod(filepath.Dir(binary), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	exit, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatalf("run as nobody: %v\n%s", err, out)
	}
	if exit.ExitCode() != cli.ExitPrivileges {
		t.Errorf("exit code = %d, want %d", exit.ExitCode(), cli.ExitPrivileges)
	}
	if !strings.Contains(string(out), "CAP_BPF and CAP_PERFMON") {
		t.Errorf("message does not name the capabilities:\n%s", out)
	}
}

// TestTraceAndSummary runs the binary as a user would: start, wait until
// attached, create a zombie, stop with SIGINT, and read the output.
func TestTraceAndSummary(t *testing.T) {
	tracetest.RequireBPF(t)
	tr := startTracer(t, "--min-age", "300ms")
	run := scenario.Start(t, "nowait", "--exit-code", "3")
	rec := tr.waitRecord(t, lingeringFor(run.Zombies[0]), 5*time.Second)
	if rec.Parent == nil || int(rec.Parent.PID) != run.Parent {
		t.Errorf("parent = %+v, want %d", rec.Parent, run.Parent)
	}

	if err := tr.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var last string
	for line := range tr.lines {
		last = line
	}
	if err := tr.cmd.Wait(); err != nil {
		t.Fatalf("zombietrace exited with %v; stderr:\n%s", err, tr.stderr.String())
	}
	var summary report.Summary
	if err := json.Unmarshal([]byte(last), &summary); err != nil {
		t.Fatalf("last line is not JSON: %q", last)
	}
	if summary.Type != report.TypeSummary {
		t.Errorf("last line type = %q, want summary", summary.Type)
	}
	if summary.ZombiesSeen < 1 {
		t.Errorf("zombies_seen = %d, want at least 1", summary.ZombiesSeen)
	}
	if summary.Events == 0 {
		t.Error("events = 0")
	}
	if !strings.Contains(tr.stderr.String(), "msg=detached") {
		t.Errorf("log lacks the detach line:\n%s", tr.stderr.String())
	}
	assertNothingLoaded(t, tr.stderr.String())
}

// TestRestartAfterKill kills zombietrace with SIGKILL, checks that nothing
// stays loaded, and checks that a new instance finds the zombie.
func TestRestartAfterKill(t *testing.T) {
	tracetest.RequireBPF(t)
	first := startTracer(t, "--min-age", "300ms")
	run := scenario.Start(t, "nowait")
	zombie := run.Zombies[0]
	first.waitRecord(t, lingeringFor(zombie), 5*time.Second)
	if err := first.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	assertNothingLoaded(t, first.stderr.String())

	second := startTracer(t, "--min-age", "300ms")
	r := second.waitRecord(t, lingeringFor(zombie), 5*time.Second)
	if !r.FoundAtStart {
		t.Error("the restarted tracer did not mark the zombie found_at_start")
	}
	if r.Parent == nil || int(r.Parent.PID) != run.Parent {
		t.Errorf("parent = %+v, want %d", r.Parent, run.Parent)
	}
}

func waitForFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear within %s", path, timeout)
}

// assertNothingLoaded checks that none of the programs that the start line
// lists in prog_ids is still loaded after the process exited.
func assertNothingLoaded(t *testing.T, log string) {
	t.Helper()
	m := regexp.MustCompile(`prog_ids=([0-9,]+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("start line lacks prog_ids:\n%s", log)
	}
	ids := strings.Split(m[1], ",")
	hooks := regexp.MustCompile(`hooks=([^ ]+)`).FindStringSubmatch(log)
	// Seven hooks when the wait programs read their arguments at return,
	// nine with the entry programs of older kernels.
	if hooks == nil || len(ids) != len(strings.Split(hooks[1], ",")) || len(ids) < 7 {
		t.Errorf("prog_ids lists %d programs, want one per hook, at least 7:\n%s", len(ids), log)
	}
	for _, s := range ids {
		id, _ := strconv.ParseUint(s, 10, 32)
		// The kernel frees a program shortly after its last reference
		// closes, which can be a moment after the process is gone.
		var err error
		for range 50 {
			var prog *ebpf.Program
			if prog, err = ebpf.NewProgramFromID(ebpf.ProgramID(id)); err != nil {
				break
			}
			prog.Close()
			time.Sleep(100 * time.Millisecond)
		}
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("program %d is still loaded after exit (err %v)", id, err)
		}
	}
}

// TestStdoutClosed closes the read end of zombietrace's standard output,
// as `zombietrace | head -1` does, and checks that zombietrace stops at its
// next record, detaches, and exits with ExitFailure rather than SIGPIPE.
func TestStdoutClosed(t *testing.T) {
	tracetest.RequireBPF(t)
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(binary, "--output", "json", "--min-age", "300ms", "--ready-file", ready)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuilder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	waitForFile(t, ready, 10*time.Second)
	stdout.Close()
	scenario.Start(t, "nowait")

	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(tracetest.Scale(10 * time.Second)):
		t.Fatalf("zombietrace still runs 10 s after its output was closed:\n%s", stderr.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != cli.ExitFailure {
		t.Errorf("exit = %v, want exit code %d", err, cli.ExitFailure)
	}
	for _, want := range []string{"standard output was closed", "msg=detached"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, stderr.String())
		}
	}
	assertNothingLoaded(t, stderr.String())
}
