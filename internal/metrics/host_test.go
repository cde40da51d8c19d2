package metrics

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/report"
)

// TestHostCgroupPids reads the pids controller of a real cgroup that the
// test creates on this machine, with a process of its own inside.
func TestHostCgroupPids(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a cgroup")
	}
	v2, v1 := findCgroupMounts("/proc/self/mountinfo")
	opts := Options{ProcRoot: "/proc", CgroupV2Root: v2, CgroupV1PidsRoot: v1}
	root := v1
	if v2 != "" && fileExists(filepath.Join(v2, "cgroup.subtree_control")) {
		data, _ := os.ReadFile(filepath.Join(v2, "cgroup.subtree_control"))
		if containsWord(string(data), "pids") {
			root = v2
		}
	}
	if root == "" {
		t.Skip("no cgroup hierarchy with the pids controller")
	}
	dir, err := os.MkdirTemp(root, "zombietrace-metrics-test-")
	if err != nil {
		t.Skipf("cannot create a cgroup below %s: %v", root, err)
	}
	// The cgroup can only be removed once the process has left it.
	cmd := exec.Command("sleep", "60")
	t.Cleanup(func() {
		if cmd.Process != nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		for range 50 {
			if os.Remove(dir) == nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("remove test cgroup %s failed", dir)
	})
	if err := os.WriteFile(filepath.Join(dir, "pids.max"), []byte("40"), 0o644); err != nil {
		t.Fatalf("set pids.max: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	procs := filepath.Join(dir, "cgroup.procs")
	if err := os.WriteFile(procs, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		t.Fatalf("move sleep into the test cgroup: %v", err)
	}

	m, _ := newTestMetrics(t, opts)
	r := record(report.TypeLingering, uint32(cmd.Process.Pid), "go", time.Minute)
	if root == v2 {
		r.Cgroup = "/" + filepath.Base(dir)
	}
	m.Observe(r)
	families := scrape(t, m)
	labels := map[string]string{"cgroup": "/" + filepath.Base(dir)}
	if got := mustValue(t, families, NameCgroupPids, labels); got != 1 {
		t.Errorf("pids of the test cgroup = %v, want 1", got)
	}
	if got := mustValue(t, families, NameCgroupPidsMax, labels); got != 40 {
		t.Errorf("pids max of the test cgroup = %v, want 40", got)
	}
}

func containsWord(s, word string) bool {
	for _, f := range strings.Fields(s) {
		if f == word {
			return true
		}
	}
	return false
}
