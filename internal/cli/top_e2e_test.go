package cli_test

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/scenario"
	"github.com/zombietrace/zombietrace/internal/tracetest"
)

func TestTopShowsParentRow(t *testing.T) {
	tracetest.RequireBPF(t)
	ready := filepath.Join(t.TempDir(), "ready")
	cmd := exec.Command(binary, "top", "--refresh", "200ms", "--min-age", "300ms", "--ready-file", ready)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitForFile(t, ready, 10*time.Second)
	run := scenario.Start(t, "nowait", "--count", "3")

	rows := make(chan string)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			rows <- s.Text()
		}
		close(rows)
	}()
	want := []string{"3", "parent", "never_waits", "zombiegen"}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case row := <-rows:
			fields := strings.Fields(row)
			if len(fields) > 5 && fields[0] == want[0] && fields[3] == want[1] && fields[4] == want[2] &&
				strings.Contains(row, want[3]) && strings.Contains(row, " "+strconv.Itoa(run.Parent)+" ") {
				return
			}
		case <-deadline:
			t.Fatalf("no row with %d zombies of parent %d", 3, run.Parent)
		}
	}
}
