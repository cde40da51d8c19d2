package diagnose_test

import (
	"bufio"
	_ "embed"
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

	"github.com/zombietrace/zombietrace/internal/diagnose"
	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/scan"
	"github.com/zombietrace/zombietrace/internal/scenario"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := scenario.RemoveBinary(); err != nil {
		fmt.Fprintf(os.Stderr, "remove zombiegen build directory: %v\n", err)
	}
	if diaggenBuild.dir != "" {
		os.RemoveAll(diaggenBuild.dir)
	}
	os.Exit(code)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root")
	}
}

// procRecord returns the record that a /proc scan makes for a zombie,
// already diagnosed, and fails the test if the scan does not find it.
func procRecord(t *testing.T, parent, zombie int) report.Record {
	t.Helper()
	groups, err := scan.Zombies("/proc", parent)
	if err != nil {
		t.Fatalf("scan /proc for zombies of %d: %v", parent, err)
	}
	for _, g := range groups {
		for _, r := range g.Records {
			if int(r.Zombie.PID) == zombie {
				return r
			}
		}
	}
	t.Fatalf("scan found no zombie %d with parent %d", zombie, parent)
	return report.Record{}
}

// traced turns a scan record into one shaped like the tracer's: not found
// at start, with the given wait calls and SIGCHLD handling, and diagnoses
// it again.
//
// NOTE: the wait calls and SIGCHLD fields are written by hand to match what
// the tracer reports for each scenario. Tests should take them from the
// real probe through internal/tracetest once that package exists.
func traced(r report.Record, waits *report.Waits, sigchld *report.SIGCHLD) report.Record {
	r.FoundAtStart = false
	r.Waits = waits
	r.SIGCHLD = sigchld
	r.Diagnosis = nil
	diagnose.Diagnose(&r, "/proc")
	return r
}

// assertVerdict checks the verdict and that each wanted string is a
// substring of some evidence line.
func assertVerdict(t *testing.T, r report.Record, verdict string, evidence ...string) {
	t.Helper()
	d := r.Diagnosis
	if d == nil {
		t.Fatalf("zombie %d: no diagnosis", r.Zombie.PID)
	}
	t.Logf("zombie %d: %+v", r.Zombie.PID, *d)
	if d.Verdict != verdict {
		t.Errorf("zombie %d: verdict %s, want %s; summary %q; evidence %q",
			r.Zombie.PID, d.Verdict, verdict, d.Summary, d.Evidence)
	}
	if d.Summary == "" || !strings.HasSuffix(d.Summary, ".") {
		t.Errorf("zombie %d: summary %q, want one sentence", r.Zombie.PID, d.Summary)
	}
	if d.Fix == "" {
		t.Errorf("zombie %d: empty fix", r.Zombie.PID)
	}
	for _, want := range evidence {
		found := false
		for _, line := range d.Evidence {
			if strings.Contains(line, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("zombie %d: no evidence line contains %q; evidence %q", r.Zombie.PID, want, d.Evidence)
		}
	}
}

//go:embed testdata/diaggen.c
var diaggenSource []byte

var diaggenBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

// diaggenBinary compiles testdata/diaggen.c once per test binary.
func diaggenBinary(t *testing.T) string {
	t.Helper()
	diaggenBuild.once.Do(func() {
		dir, err := os.MkdirTemp("", "diaggen-")
		if err != nil {
			diaggenBuild.err = err
			return
		}
		diaggenBuild.dir = dir
		src := filepath.Join(dir, "diaggen.c")
		if err := os.WriteFile(src, diaggenSource, 0o600); err != nil {
			diaggenBuild.err = err
			return
		}
		out := filepath.Join(dir, "diaggen")
		output, err := exec.Command("cc", "-O1", "-Wall", "-Werror", "-o", out, src).CombinedOutput()
		if err != nil {
			diaggenBuild.err = fmt.Errorf("cc diaggen.c: %w\n%s", err, output)
			return
		}
		diaggenBuild.path = out
	})
	if diaggenBuild.err != nil {
		t.Fatal(diaggenBuild.err)
	}
	return diaggenBuild.path
}

// diaggen is one running testdata/diaggen.c scenario.
type diaggen struct {
	fields map[string]string
}

// startDiaggen starts a diaggen mode, waits for its ready line and
// registers a cleanup that ends it and checks that it left nothing behind.
func startDiaggen(t *testing.T, mode string, args ...string) *diaggen {
	t.Helper()
	cmd := exec.Command(diaggenBinary(t), append([]string{mode}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start diaggen %s: %v", mode, err)
	}
	done := make(chan error, 1)
	t.Cleanup(func() {
		stdin.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("diaggen %s: %v; stderr:\n%s", mode, err, stderr.String())
			}
		case <-time.After(15 * time.Second):
			t.Errorf("diaggen %s did not exit within 15s of stdin EOF; killing it", mode)
			killScenario(cmd.Process.Pid)
			<-done
		}
	})

	lines := make(chan string, 1)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			if line := scanner.Text(); strings.HasPrefix(line, "ready ") {
				lines <- line
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	select {
	case line := <-lines:
		d := &diaggen{fields: make(map[string]string)}
		for _, word := range strings.Fields(strings.TrimPrefix(line, "ready ")) {
			key, value, _ := strings.Cut(word, "=")
			d.fields[key] = value
		}
		return d
	case <-time.After(15 * time.Second):
		t.Fatalf("diaggen %s printed no ready line within 15s; stderr:\n%s", mode, stderr.String())
	}
	return nil
}

// pid returns the first PID of a ready field.
func (d *diaggen) pid(t *testing.T, key string) int {
	t.Helper()
	first, _, _ := strings.Cut(d.fields[key], ",")
	pid, err := strconv.Atoi(first)
	if err != nil {
		t.Fatalf("ready field %s=%q: %v", key, d.fields[key], err)
	}
	return pid
}

// killScenario SIGKILLs the process groups of the guard's children, gives
// the guard time to reap them, and then SIGKILLs the guard's own group.
func killScenario(guard int) {
	children, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", guard, guard))
	for _, field := range strings.Fields(string(children)) {
		if pid, err := strconv.Atoi(field); err == nil {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
	time.Sleep(500 * time.Millisecond)
	_ = syscall.Kill(-guard, syscall.SIGKILL)
}
