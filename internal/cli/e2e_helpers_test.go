package cli_test

import (
	"bufio"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/report"
)

// tracer is a zombietrace process started by a test.
type tracer struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *lockedBuilder
}

type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startTracer runs the binary with JSON output and a ready file, and
// returns once it is attached.
func startTracer(t *testing.T, args ...string) *tracer {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "ready")
	args = append([]string{"--output", "json", "--ready-file", ready}, args...)
	tr := &tracer{cmd: exec.Command(binary, args...), lines: make(chan string, 1024), stderr: &lockedBuilder{}}
	stdout, err := tr.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	tr.cmd.Stderr = tr.stderr
	if err := tr.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.cmd.Process.Kill(); _ = tr.cmd.Wait() })
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			tr.lines <- s.Text()
		}
		close(tr.lines)
	}()
	waitForFile(t, ready, 10*time.Second)
	return tr
}

// waitRecord reads lines until a record that match accepts.
func (tr *tracer) waitRecord(t *testing.T, match func(report.Record) bool, timeout time.Duration) report.Record {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case line, ok := <-tr.lines:
			if !ok {
				t.Fatalf("zombietrace exited; stderr:\n%s", tr.stderr.String())
			}
			var r report.Record
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("invalid JSON line %q: %v", line, err)
			}
			if match(r) {
				return r
			}
		case <-deadline:
			t.Fatalf("no matching record within %s; stderr:\n%s", timeout, tr.stderr.String())
		}
	}
}

func lingeringFor(pid int) func(report.Record) bool {
	return func(r report.Record) bool {
		return r.Type == report.TypeLingering && int(r.Zombie.PID) == pid
	}
}
