package scan

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zombietrace/zombietrace/internal/diagnose"
	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/scenario"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := scenario.RemoveBinary(); err != nil {
		fmt.Fprintf(os.Stderr, "remove zombiegen build directory: %v\n", err)
	}
	os.Exit(code)
}

// runScan runs Run and fails the test unless it exits 0 with nothing on
// stderr.
func runScan(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := Run(args, &stdout, &stderr); code != ExitOK {
		t.Fatalf("Run(%q) = %d, want 0; stderr:\n%s", args, code, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("Run(%q) wrote to stderr:\n%s", args, stderr.String())
	}
	return stdout.String()
}

// scanJSON runs Run with --output json and decodes each line.
func scanJSON(t *testing.T, args ...string) []report.Record {
	t.Helper()
	out := runScan(t, append([]string{"--output", "json"}, args...)...)
	var records []report.Record
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var r report.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("decode line %q: %v", line, err)
		}
		records = append(records, r)
	}
	return records
}

func TestRunUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"invalid output", []string{"--output", "xml"}, ExitUsage},
		{"negative pid", []string{"--pid", "-1"}, ExitUsage},
		{"unknown flag", []string{"--bogus"}, ExitUsage},
		{"argument", []string{"extra"}, ExitUsage},
		{"empty proc", []string{"--proc", ""}, ExitUsage},
		{"missing proc", []string{"--proc", "/nonexistent/proc"}, ExitFailure},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Run(tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("Run(%q) = %d, want %d", tc.args, code, tc.code)
			}
			if stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
			if tc.code == ExitUsage && !strings.Contains(stderr.String(), "Usage: zombietrace scan") {
				t.Errorf("stderr %q, want the usage", stderr.String())
			}
			if tc.code == ExitFailure && !strings.HasPrefix(stderr.String(), "zombietrace scan: ") {
				t.Errorf("stderr %q, want an error message", stderr.String())
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"--help"}, &stdout, &stderr); code != ExitOK {
		t.Errorf("Run(--help) = %d, want 0", code)
	}
	if !strings.Contains(stdout.String(), "Usage: zombietrace scan") || !strings.Contains(stdout.String(), "--pid") {
		t.Errorf("help on stdout %q, want the usage with flags", stdout.String())
	}
}

const dockerID = "3f4c1b1e0c9d5a2b7e8f6a1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f7"

// writeFakeProc writes a procfs tree with two parents: 30 holds zombie 31,
// and 10 holds zombies 12 and 11, the latter in a Docker container.
func writeFakeProc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(name, content string) {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stat", "cpu 1 2 3\nbtime 1700000000\n")
	process := func(pid, ppid int, comm string, state byte, cgroup, children string) {
		dir := fmt.Sprint(pid)
		// Fields 3 to 52 of proc(5); field 52 (exit_code) is 0x0700, exit 7.
		fields := make([]string, 50)
		for i := range fields {
			fields[i] = "0"
		}
		fields[0] = string(state)
		fields[1] = fmt.Sprint(ppid)
		fields[17] = "1"   // num_threads, field 20
		fields[19] = "500" // starttime, field 22
		fields[49] = "1792"
		write(dir+"/stat", fmt.Sprintf("%d (%s) %s\n", pid, comm, strings.Join(fields, " ")))
		write(dir+"/status", fmt.Sprintf("Name:\t%s\nState:\t%c\nTgid:\t%d\nPid:\t%d\nPPid:\t%d\n"+
			"TracerPid:\t0\nThreads:\t1\nNSpid:\t%d\nSigBlk:\t0000000000000000\n"+
			"SigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n", comm, state, pid, pid, ppid, pid))
		write(dir+"/cmdline", "")
		write(dir+"/cgroup", "0::"+cgroup+"\n")
		write(fmt.Sprintf("%s/task/%d/children", dir, pid), children)
		if err := os.Symlink("pid:[4026531836]", filepath.Join(root, dir, "ns", "pid")); err != nil {
			if err := os.MkdirAll(filepath.Join(root, dir, "ns"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("pid:[4026531836]", filepath.Join(root, dir, "ns", "pid")); err != nil {
				t.Fatal(err)
			}
		}
	}
	process(10, 1, "server", 'S', "/system.slice/server.service", "11 12")
	process(11, 10, "child", 'Z', "/system.slice/docker-"+dockerID+".scope", "")
	process(12, 10, "child", 'Z', "/system.slice/server.service", "")
	process(30, 1, "worker", 'S', "/", "31")
	process(31, 30, "job", 'Z', "/", "")
	return root
}

func TestRunFakeProcJSON(t *testing.T) {
	records := scanJSON(t, "--proc", writeFakeProc(t))
	var got []string
	for _, r := range records {
		got = append(got, fmt.Sprintf("%d<-%d", r.Zombie.PID, r.Parent.PID))
	}
	if want := "11<-10 12<-10 31<-30"; strings.Join(got, " ") != want {
		t.Fatalf("records %q, want %q", got, want)
	}

	r := records[0]
	if r.Type != report.TypeLingering || !r.FoundAtStart || r.DiedAt != nil || r.AgeSeconds != 0 {
		t.Errorf("record type=%s found_at_start=%v died_at=%v age=%v, want lingering, true, none, 0",
			r.Type, r.FoundAtStart, r.DiedAt, r.AgeSeconds)
	}
	if r.Exit == nil || r.Exit.Code == nil || *r.Exit.Code != 7 {
		t.Errorf("exit %+v, want code 7", r.Exit)
	}
	if r.Container == nil || r.Container.Runtime != "docker" || r.Container.ID != dockerID {
		t.Errorf("container %+v, want docker %s", r.Container, dockerID)
	}
	if c := records[1].Container; c == nil || c.Unit != "server.service" {
		t.Errorf("container %+v, want systemd unit server.service", c)
	}
	if records[2].Container != nil {
		t.Errorf("container %+v for cgroup /, want none", records[2].Container)
	}

	for _, r := range records {
		if r.Diagnosis == nil || r.Diagnosis.Verdict != diagnose.UnreapedNoHandler {
			t.Errorf("zombie %d: diagnosis %+v, want %s", r.Zombie.PID, r.Diagnosis, diagnose.UnreapedNoHandler)
		}
	}
	if r := scanJSON(t, "--proc", writeFakeProc(t), "--pid", "30"); len(r) != 1 || r[0].Zombie.PID != 31 {
		t.Errorf("--pid 30: %d records, want zombie 31 only", len(r))
	}
}

func TestRunFakeProcText(t *testing.T) {
	out := runScan(t, "--proc", writeFakeProc(t))
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines, want 5 (2 group lines, 3 records):\n%s", len(lines), out)
	}
	wantGroup := `parent pid=10 cmd="server" zombies=2 verdict=unreaped_no_handler summary=`
	if !strings.HasPrefix(lines[0], wantGroup) {
		t.Errorf("line 1 %q, want prefix %q", lines[0], wantGroup)
	}
	for _, i := range []int{1, 2, 4} {
		if !strings.Contains(lines[i], " lingering pid=") || !strings.Contains(lines[i], "found_at_start=true") {
			t.Errorf("line %d %q, want a lingering record found at start", i+1, lines[i])
		}
	}
	if !strings.HasPrefix(lines[3], "parent pid=30 ") {
		t.Errorf("line 4 %q, want the group line of parent 30", lines[3])
	}
}
