package diagnose_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/diagnose"
	"github.com/zombietrace/zombietrace/internal/procfs"
	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/scenario"
)

func waitCalls(n int, target string, options ...string) *report.Waits {
	w := &report.Waits{Summary: report.WaitOtherPIDs, Calls: n}
	for i := 0; i < min(n, 5); i++ {
		w.Recent = append(w.Recent, report.WaitCall{
			Time: time.Now(), Syscall: "wait4", Target: target, Options: options,
		})
	}
	return w
}

func noWaits() *report.Waits { return &report.Waits{Summary: report.WaitNone} }

func defaultSIGCHLD() *report.SIGCHLD {
	return &report.SIGCHLD{Disposition: "default", Delivery: "ignored"}
}

func TestNeverWaits(t *testing.T) {
	run := scenario.Start(t, "nowait", "--count", "2", "--exit-code", "3")
	r := traced(procRecord(t, run.Parent, run.Zombies[0]), noWaits(), defaultSIGCHLD())
	assertVerdict(t, r, diagnose.NeverWaits,
		"no wait4 or waitid call since death",
		"SIGCHLD: default disposition, delivery ignored",
		fmt.Sprintf("parent %d now: SIGCHLD default disposition, no handler", run.Parent))
}

func TestUnreapedNoHandlerFromProc(t *testing.T) {
	run := scenario.Start(t, "nowait", "--count", "2")
	r := procRecord(t, run.Parent, run.Zombies[1])
	if !r.FoundAtStart || r.Waits != nil {
		t.Fatalf("scan record: found_at_start=%v waits=%v, want true and none", r.FoundAtStart, r.Waits)
	}
	assertVerdict(t, r, diagnose.UnreapedNoHandler,
		"wait calls unknown",
		fmt.Sprintf("parent %d now: SIGCHLD default disposition, no handler", run.Parent))
}

func TestWaitsOnlySpecific(t *testing.T) {
	d := startDiaggen(t, "waitspecific", "2")
	parent, polled, zombie := d.pid(t, "parent"), d.pid(t, "polled"), d.pid(t, "zombies")
	target := fmt.Sprintf("pid %d", polled)
	r := traced(procRecord(t, parent, zombie), waitCalls(3, target, "WNOHANG"), defaultSIGCHLD())
	assertVerdict(t, r, diagnose.WaitsOnlySpecific,
		fmt.Sprintf("3 wait4 calls since death, all for other PIDs: %s", target))
}

func TestNSInitWaitsOnlyOwn(t *testing.T) {
	requireRoot(t)
	run := scenario.Start(t, "nsinit-waitspecific", "--count", "2")
	ns, err := procfs.PIDNamespaceInode("/proc", run.Init)
	if err != nil {
		t.Fatal(err)
	}
	target := "pid " + run.Fields["ns_polled"]
	r := traced(procRecord(t, run.Init, run.Zombies[0]), waitCalls(12, target, "WNOHANG"), defaultSIGCHLD())
	if !r.Parent.NSInit {
		t.Errorf("parent %d: ns_init false, want true from NSpid", run.Init)
	}
	assertVerdict(t, r, diagnose.NSInitWaitsOnlyOwn,
		fmt.Sprintf("parent is PID 1 of PID namespace %d (ns pid 1)", ns),
		"12 wait calls since death, all for other PIDs: "+target+" (last 5 of 12 calls listed)")

	// A zombie found at start gets the calls seen since then.
	found := procRecord(t, run.Init, run.Zombies[0])
	if !found.FoundAtStart {
		t.Fatal("a record from /proc is not marked found at start")
	}
	found.Waits = waitCalls(3, target, "WNOHANG")
	found.Diagnosis = nil
	diagnose.Diagnose(&found, "/proc")
	assertVerdict(t, found, diagnose.NSInitWaitsOnlyOwn,
		"3 wait4 calls since zombietrace found it, all for other PIDs: "+target)
}

// startNSInitNoReaper runs sleep as PID 1 of a new PID namespace, with an
// orphan that exits after being adopted by it. It returns the host PIDs of
// the namespace init and of the zombie.
func startNSInitNoReaper(t *testing.T) (initPID, zombie int) {
	t.Helper()
	requireRoot(t)
	// The inner sh leaves "sleep 0.3" to PID 1, which has exec'd sleep by
	// the time the orphan exits, and sleep never waits.
	cmd := exec.Command("unshare", "--pid", "--fork", "--kill-child",
		"sh", "-c", `sh -c "sleep 0.3 &"; exec sleep 60`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unshare: %v", err)
	}

	t.Cleanup(func() {
		// Killing PID 1 of the namespace kills and reaps everything in
		// it; unshare then reaps PID 1 and exits.
		if initPID != 0 {
			_ = syscall.Kill(initPID, syscall.SIGKILL)
		} else {
			_ = cmd.Process.Kill()
		}
		_ = cmd.Wait()
	})

	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if initPID == 0 {
			initPID = onlyChild(cmd.Process.Pid)
		}
		if initPID != 0 {
			for _, child := range children(initPID) {
				if stat, err := procfs.ReadStat("/proc", child); err == nil && stat.State == 'Z' {
					return initPID, child
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no zombie under the namespace init %d within 10s", initPID)
	return 0, 0
}

func children(pid int) []int {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, field := range strings.Fields(string(data)) {
		if child, err := strconv.Atoi(field); err == nil {
			out = append(out, child)
		}
	}
	return out
}

func onlyChild(pid int) int {
	if c := children(pid); len(c) == 1 {
		return c[0]
	}
	return 0
}

func TestNSInitNeverReaps(t *testing.T) {
	initPID, zombie := startNSInitNoReaper(t)
	ns, err := procfs.PIDNamespaceInode("/proc", initPID)
	if err != nil {
		t.Fatal(err)
	}
	nsEvidence := fmt.Sprintf("parent is PID 1 of PID namespace %d (ns pid 1)", ns)

	fromProc := procRecord(t, initPID, zombie)
	assertVerdict(t, fromProc, diagnose.NSInitNeverReaps, nsEvidence, "wait calls unknown")

	fromTrace := traced(fromProc, noWaits(), defaultSIGCHLD())
	assertVerdict(t, fromTrace, diagnose.NSInitNeverReaps, nsEvidence,
		"no wait4 or waitid call since death")
}

func TestSubreaperNeverWaits(t *testing.T) {
	run := scenario.Start(t, "doublefork-subreaper", "--count", "2")
	r := procRecord(t, run.Parent, run.Zombies[0])
	// /proc does not show the subreaper flag or the handover; the tracer
	// records both.
	r.Parent.Subreaper = true
	r.OriginalParent = &report.Process{PID: uint32(run.Creator), Comm: "zombiegen", Exited: true}
	r.Handovers = []report.Handover{{From: *r.OriginalParent, To: *r.Parent, Dead: false}}
	r = traced(r, noWaits(), defaultSIGCHLD())
	assertVerdict(t, r, diagnose.SubreaperNeverWaits,
		fmt.Sprintf("parent %d is a child subreaper (PR_SET_CHILD_SUBREAPER)", run.Parent),
		fmt.Sprintf("it adopted the zombie from pid %d (zombiegen)", run.Creator),
		"no wait4 or waitid call since death")
}

func TestHandlerMissesChildren(t *testing.T) {
	run := scenario.Start(t, "handler-coalesce", "--count", "5")
	if len(run.Zombies) != 4 {
		t.Fatalf("zombies=%v, want 4", run.Zombies)
	}
	var zombies []string
	for _, pid := range run.Zombies {
		zombies = append(zombies, strconv.Itoa(pid))
	}
	siblings := fmt.Sprintf("parent has 4 unreaped dead children: %s", strings.Join(zombies, ", "))

	fromProc := procRecord(t, run.Parent, run.Zombies[0])
	assertVerdict(t, fromProc, diagnose.HandlerMissesChildren,
		fmt.Sprintf("parent %d now: SIGCHLD handler installed (SigCgt)", run.Parent), siblings)

	// The handler's one waitpid(-1, WNOHANG) reaped another child.
	reaped, _ := strconv.Atoi(strings.Split(run.Fields["reaped"], ",")[0])
	waits := &report.Waits{Summary: report.WaitOther, Calls: 1, Recent: []report.WaitCall{
		{Syscall: "wait4", Target: "any", Options: []string{"WNOHANG"}, Return: int64(reaped)},
	}}
	sigchld := &report.SIGCHLD{Disposition: "handler", Flags: []string{"SA_RESTART"},
		Blocked: true, Delivery: "already_pending"}
	fromTrace := traced(fromProc, waits, sigchld)
	assertVerdict(t, fromTrace, diagnose.HandlerMissesChildren,
		"SIGCHLD: handler installed, flags SA_RESTART, blocked, delivery already_pending",
		fmt.Sprintf("1 wait4 call since death: wait4(any,WNOHANG)=%d", reaped), siblings)
}

func TestParentStopped(t *testing.T) {
	run := scenario.Start(t, "stopped", "--count", "2")
	r := procRecord(t, run.Parent, run.Zombies[0])
	assertVerdict(t, r, diagnose.ParentStopped, "parent state T (stopped)")
	r = traced(r, noWaits(), defaultSIGCHLD())
	assertVerdict(t, r, diagnose.ParentStopped, "parent state T (stopped)",
		"no wait4 or waitid call since death")
}

func TestParentFrozenV1(t *testing.T) {
	requireRoot(t)
	const mount = "/sys/fs/cgroup/freezer"
	if _, err := os.Stat(filepath.Join(mount, "freezer.state")); err != nil {
		if _, err := os.Stat(filepath.Join(mount, "cgroup.procs")); err != nil {
			t.Skipf("skipping: no cgroup v1 freezer mounted at %s", mount)
		}
	}
	run := scenario.Start(t, "nowait", "--count", "1")
	name := fmt.Sprintf("zombietrace-diagnose-%d", os.Getpid())
	freezeInCgroup(t, run.Parent, mount, name, "freezer.state", "FROZEN", "THAWED")
	r := procRecord(t, run.Parent, run.Zombies[0])
	assertVerdict(t, r, diagnose.ParentFrozen, fmt.Sprintf("cgroup v1 freezer /%s is FROZEN (freezer.state)", name))
}

func TestParentFrozenV2(t *testing.T) {
	requireRoot(t)
	mount := cgroup2Mount(t)
	run := scenario.Start(t, "nowait", "--count", "1")
	name := fmt.Sprintf("zombietrace-diagnose-%d", os.Getpid())
	freezeInCgroup(t, run.Parent, mount, name, "cgroup.freeze", "1", "0")
	r := procRecord(t, run.Parent, run.Zombies[0])
	assertVerdict(t, r, diagnose.ParentFrozen, "is frozen (cgroup.events: frozen 1)")
}

// cgroup2Mount returns where cgroup2 is mounted with root "/", or skips.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 8 && fields[3] == "/" && strings.Contains(line, " - cgroup2 ") {
			return fields[4]
		}
	}
	t.Skip("skipping: no cgroup2 mount with root /")
	return ""
}

// freezeInCgroup moves pid into a new child cgroup of mount and freezes it
// by writing freeze to file. The cleanup, registered after the caller's
// scenario, thaws the cgroup, moves pid back and removes the cgroup
// before the scenario is stopped.
func freezeInCgroup(t *testing.T, pid int, mount, name, file, freeze, thaw string) {
	t.Helper()
	entries, err := procfs.ReadCgroup("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	original := ""
	for _, e := range entries {
		if (file == "cgroup.freeze" && e.HierarchyID == 0 && len(e.Controllers) == 0) ||
			(file == "freezer.state" && strings.Contains(strings.Join(e.Controllers, ","), "freezer")) {
			original = e.Path
		}
	}
	if original == "" {
		t.Skipf("skipping: pid %d has no cgroup in the hierarchy at %s", pid, mount)
	}

	dir := filepath.Join(mount, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(thaw), 0o644); err != nil {
			t.Errorf("thaw %s: %v", dir, err)
		}
		back := filepath.Join(mount, original, "cgroup.procs")
		if err := os.WriteFile(back, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			t.Errorf("move pid %d back to %s: %v", pid, back, err)
		}
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove cgroup %s: %v", dir, err)
		}
	})

	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatalf("move pid %d into %s: %v", pid, dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(freeze), 0o644); err != nil {
		t.Skipf("skipping: freezing %s is not supported here: %v", dir, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if frozen(dir, file) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("cgroup %s not frozen within 5s", dir)
}

func frozen(dir, file string) bool {
	if file == "freezer.state" {
		data, _ := os.ReadFile(filepath.Join(dir, "freezer.state"))
		return strings.TrimSpace(string(data)) == "FROZEN"
	}
	data, _ := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	return strings.Contains(string(data), "frozen 1")
}

func TestThreadsAlive(t *testing.T) {
	run := scenario.Start(t, "thread-leader")
	r := procRecord(t, run.Parent, run.Zombies[0])
	if !r.ThreadsAlive {
		t.Errorf("scan record: threads_alive false, want true")
	}
	assertVerdict(t, r, diagnose.ThreadsAlive,
		fmt.Sprintf("zombie %d is a thread-group leader, and /proc shows Threads: 2", run.Zombies[0]))
}

func TestTracedWaitsForTracer(t *testing.T) {
	run := scenario.Start(t, "traced")
	r := procRecord(t, run.Parent, run.Zombies[0])
	if r.Tracer == nil || int(r.Tracer.PID) != run.Tracer {
		t.Errorf("scan record: tracer %+v, want pid %d", r.Tracer, run.Tracer)
	}
	assertVerdict(t, r, diagnose.TracedWaitsForTracer,
		fmt.Sprintf("zombie %d is ptrace-attached by pid %d", run.Zombies[0], run.Tracer),
		fmt.Sprintf("its parent is pid %d", run.Parent))
}

func TestParentExited(t *testing.T) {
	d := startDiaggen(t, "parent-exited")
	holder, original, zombie := d.pid(t, "parent"), d.pid(t, "original_parent"), d.pid(t, "zombies")
	r := procRecord(t, holder, zombie)
	// The tracer records the handover of the dead child and the holder's
	// subreaper flag; /proc shows neither.
	r.Parent.Subreaper = true
	r.OriginalParent = &report.Process{PID: uint32(original), Comm: "diaggen", Exited: true}
	r.Handovers = []report.Handover{{From: *r.OriginalParent, To: *r.Parent, Dead: true}}
	r = traced(r, noWaits(), defaultSIGCHLD())
	assertVerdict(t, r, diagnose.ParentExited,
		fmt.Sprintf("original parent %d (diaggen) exited while the zombie was unreaped", original),
		fmt.Sprintf("the kernel handed it to pid %d (diaggen), a child subreaper", holder),
		fmt.Sprintf("pid %d has no SIGCHLD handler (SigCgt)", holder),
		"no wait4 or waitid call since death")
}

func TestSIGCHLDIgnoredAfterDeath(t *testing.T) {
	d := startDiaggen(t, "ignore-late", "2")
	parent, zombie := d.pid(t, "parent"), d.pid(t, "zombies")
	r := procRecord(t, parent, zombie)
	assertVerdict(t, r, diagnose.SIGCHLDIgnoredAfterDeath,
		fmt.Sprintf("parent %d ignores SIGCHLD now (SigIgn)", parent))
	r = traced(r, noWaits(), &report.SIGCHLD{Disposition: "default", Delivery: "delivered"})
	assertVerdict(t, r, diagnose.SIGCHLDIgnoredAfterDeath,
		"at the death: SIGCHLD: default disposition, delivery delivered")
}
