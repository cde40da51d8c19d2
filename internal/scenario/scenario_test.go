package scenario

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := RemoveBinary(); err != nil {
		fmt.Fprintf(os.Stderr, "remove zombiegen build directory: %v\n", err)
	}
	os.Exit(code)
}

// sigchldMask is the bit of SIGCHLD (17) in the SigIgn and SigCgt masks of
// /proc/PID/status.
const sigchldMask = 1 << (17 - 1)

// procStat contains the fields of /proc/PID/stat that the tests check.
type procStat struct {
	comm  string
	state string
	ppid  int
	// exitCode is the wait status of an exited task (field 52, Linux 3.5+).
	exitCode int
}

func readStat(t *testing.T, path string) procStat {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	text := strings.TrimSpace(string(data))
	open := strings.IndexByte(text, '(')
	closing := strings.LastIndexByte(text, ')')
	if open < 0 || closing < open {
		t.Fatalf("%s: invalid contents %q", path, text)
	}
	// fields[0] is field 3 (state) of proc(5).
	fields := strings.Fields(text[closing+1:])
	if len(fields) < 50 {
		t.Fatalf("%s: %d fields after the command name, want at least 50", path, len(fields))
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatalf("%s: invalid ppid %q", path, fields[1])
	}
	exitCode, err := strconv.Atoi(fields[49])
	if err != nil {
		t.Fatalf("%s: invalid exit_code %q", path, fields[49])
	}
	return procStat{comm: text[open+1 : closing], state: fields[0], ppid: ppid, exitCode: exitCode}
}

func stat(t *testing.T, pid int) procStat {
	t.Helper()
	return readStat(t, fmt.Sprintf("/proc/%d/stat", pid))
}

func status(t *testing.T, pid int) map[string]string {
	t.Helper()
	path := fmt.Sprintf("/proc/%d/status", pid)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	fields := make(map[string]string)
	for _, line := range strings.Split(string(data), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if ok {
			fields[key] = strings.TrimSpace(value)
		}
	}
	return fields
}

func statusMask(t *testing.T, pid int, key string) uint64 {
	t.Helper()
	value := status(t, pid)[key]
	mask, err := strconv.ParseUint(value, 16, 64)
	if err != nil {
		t.Fatalf("/proc/%d/status: invalid %s %q", pid, key, value)
	}
	return mask
}

// alive reports whether a task state is running or sleeping. A helper may
// still be running briefly after it reported itself and before it blocks.
func alive(state string) bool {
	return state == "R" || state == "S"
}

func exists(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// zombieChildren returns the children of parent that are in state Z.
func zombieChildren(t *testing.T, parent int) []int {
	t.Helper()
	path := fmt.Sprintf("/proc/%d/task/%d/children", parent, parent)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	var zombies []int
	for _, field := range strings.Fields(string(data)) {
		pid, err := strconv.Atoi(field)
		if err != nil {
			t.Fatalf("%s: invalid PID %q", path, field)
		}
		if s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil &&
			strings.Contains(string(s), ") Z ") {
			zombies = append(zombies, pid)
		}
	}
	return zombies
}

func assertZombie(t *testing.T, pid, parent, exitCode int) {
	t.Helper()
	s := stat(t, pid)
	if s.state != "Z" {
		t.Errorf("pid %d: state %s, want Z", pid, s.state)
	}
	if s.ppid != parent {
		t.Errorf("pid %d: ppid %d, want %d", pid, s.ppid, parent)
	}
	if got := s.exitCode >> 8; got != exitCode {
		t.Errorf("pid %d: exit status %d (wait status %#x), want %d", pid, got, s.exitCode, exitCode)
	}
	if got := status(t, pid)["State"]; got != "Z (zombie)" {
		t.Errorf("pid %d: status State %q, want Z (zombie)", pid, got)
	}
}

func assertGone(t *testing.T, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if exists(pid) {
			t.Errorf("pid %d still exists, want it reaped", pid)
		}
	}
}

// stopAndAssertGone stops the run and checks that no process it printed,
// nor the guard or the scenario process, exists any more.
func stopAndAssertGone(t *testing.T, r *Run) {
	t.Helper()
	pids := append(r.PIDs(), r.Cmd.Process.Pid)
	guard := r.Cmd.Process.Pid
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", guard, guard))
	if err != nil {
		t.Fatalf("read children of guard %d: %v", guard, err)
	}
	for _, field := range strings.Fields(string(children)) {
		pid, err := strconv.Atoi(field)
		if err != nil {
			t.Fatalf("invalid child PID %q of guard %d", field, guard)
		}
		pids = append(pids, pid)
	}

	r.Stop()
	if t.Failed() {
		t.Logf("zombiegen stderr:\n%s", r.Stderr())
	}
	assertGone(t, pids)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root")
	}
}

func intField(t *testing.T, r *Run, key string) int {
	t.Helper()
	value, err := strconv.Atoi(r.Fields[key])
	if err != nil {
		t.Fatalf("ready field %s=%q: %v", key, r.Fields[key], err)
	}
	return value
}

func pidList(t *testing.T, r *Run, key string) []int {
	t.Helper()
	pids, err := r.PIDList(key)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

func TestNowait(t *testing.T) {
	r := Start(t, "nowait", "--count", "3", "--exit-code", "7")
	if len(r.Zombies) != 3 {
		t.Fatalf("zombies=%v, want 3 PIDs", r.Zombies)
	}
	if got := stat(t, r.Parent).ppid; got != r.Cmd.Process.Pid {
		t.Errorf("parent %d: ppid %d, want the guard %d", r.Parent, got, r.Cmd.Process.Pid)
	}
	for _, pid := range r.Zombies {
		assertZombie(t, pid, r.Parent, 7)
	}
	if got := zombieChildren(t, r.Parent); !slices.Equal(got, r.Zombies) {
		t.Errorf("zombie children of %d: %v, want %v", r.Parent, got, r.Zombies)
	}
	stopAndAssertGone(t, r)
}

func TestReap(t *testing.T) {
	r := Start(t, "reap", "--count", "2", "--exit-code", "5")
	if len(r.Zombies) != 2 {
		t.Fatalf("zombies=%v, want 2 PIDs", r.Zombies)
	}
	if got := intField(t, r, "exit_status"); got != 5 {
		t.Errorf("exit_status=%d, want 5", got)
	}
	assertGone(t, r.Zombies)
	if got := zombieChildren(t, r.Parent); len(got) != 0 {
		t.Errorf("zombie children of %d: %v, want none", r.Parent, got)
	}
	stopAndAssertGone(t, r)
}

func TestSigign(t *testing.T) {
	r := Start(t, "sigign", "--count", "3")
	if len(r.Zombies) != 3 {
		t.Fatalf("zombies=%v, want 3 PIDs", r.Zombies)
	}
	if statusMask(t, r.Parent, "SigIgn")&sigchldMask == 0 {
		t.Errorf("parent %d: SIGCHLD not in SigIgn", r.Parent)
	}
	assertGone(t, r.Zombies)
	if got := zombieChildren(t, r.Parent); len(got) != 0 {
		t.Errorf("zombie children of %d: %v, want none", r.Parent, got)
	}
	stopAndAssertGone(t, r)
}

func TestNocldwait(t *testing.T) {
	r := Start(t, "nocldwait", "--count", "3")
	if len(r.Zombies) != 3 {
		t.Fatalf("zombies=%v, want 3 PIDs", r.Zombies)
	}
	if statusMask(t, r.Parent, "SigCgt")&sigchldMask == 0 {
		t.Errorf("parent %d: SIGCHLD not in SigCgt", r.Parent)
	}
	if statusMask(t, r.Parent, "SigIgn")&sigchldMask != 0 {
		t.Errorf("parent %d: SIGCHLD in SigIgn, want a handler", r.Parent)
	}
	assertGone(t, r.Zombies)
	if got := zombieChildren(t, r.Parent); len(got) != 0 {
		t.Errorf("zombie children of %d: %v, want none", r.Parent, got)
	}
	stopAndAssertGone(t, r)
}

func TestDoubleforkSubreaper(t *testing.T) {
	r := Start(t, "doublefork-subreaper", "--count", "2", "--exit-code", "3")
	if len(r.Zombies) != 2 {
		t.Fatalf("zombies=%v, want 2 PIDs", r.Zombies)
	}
	if r.Creator == 0 || r.Creator == r.Parent {
		t.Errorf("creator=%d, want a PID other than parent %d", r.Creator, r.Parent)
	}
	assertGone(t, []int{r.Creator})
	for _, pid := range r.Zombies {
		assertZombie(t, pid, r.Parent, 3)
	}
	stopAndAssertGone(t, r)
}

func TestNsinitWaitspecific(t *testing.T) {
	requireRoot(t)
	r := Start(t, "nsinit-waitspecific", "--count", "2", "--exit-code", "9")
	if r.Init == 0 || r.Init != r.Parent {
		t.Fatalf("init=%d parent=%d, want the same non-zero PID", r.Init, r.Parent)
	}
	if len(r.Zombies) != 2 || len(r.NSZombies) != 2 {
		t.Fatalf("zombies=%v ns_zombies=%v, want 2 PIDs each", r.Zombies, r.NSZombies)
	}

	if got, want := status(t, r.Init)["NSpid"], fmt.Sprintf("%d\t1", r.Init); got != want {
		t.Errorf("init %d: NSpid %q, want %q", r.Init, got, want)
	}
	for i, pid := range r.Zombies {
		assertZombie(t, pid, r.Init, 9)
		want := fmt.Sprintf("%d\t%d", pid, r.NSZombies[i])
		if got := status(t, pid)["NSpid"]; got != want {
			t.Errorf("zombie %d: NSpid %q, want %q", pid, got, want)
		}
	}
	assertGone(t, []int{r.Creator})

	polled := intField(t, r, "polled")
	if s := stat(t, polled); !alive(s.state) || s.ppid != r.Init {
		t.Errorf("polled child %d: state %s ppid %d, want R or S and %d", polled, s.state, s.ppid, r.Init)
	}
	want := fmt.Sprintf("%d\t%d", polled, intField(t, r, "ns_polled"))
	if got := status(t, polled)["NSpid"]; got != want {
		t.Errorf("polled child %d: NSpid %q, want %q", polled, got, want)
	}
	stopAndAssertGone(t, r)
}

func TestHandlerCoalesce(t *testing.T) {
	r := Start(t, "handler-coalesce", "--count", "5", "--exit-code", "1")
	reaped := pidList(t, r, "reaped")
	if len(r.Zombies) != 4 {
		t.Errorf("zombies=%v, want 4 PIDs", r.Zombies)
	}
	if len(reaped) != 1 {
		t.Errorf("reaped=%v, want 1 PID", reaped)
	}
	if got := intField(t, r, "signals"); got != 1 {
		t.Errorf("signals=%d, want 1", got)
	}
	if statusMask(t, r.Parent, "SigCgt")&sigchldMask == 0 {
		t.Errorf("parent %d: SIGCHLD not in SigCgt", r.Parent)
	}
	for _, pid := range r.Zombies {
		assertZombie(t, pid, r.Parent, 1)
	}
	assertGone(t, reaped)
	stopAndAssertGone(t, r)
}

func TestStopped(t *testing.T) {
	r := Start(t, "stopped", "--count", "2")
	if s := stat(t, r.Parent); s.state != "T" {
		t.Errorf("parent %d: state %s, want T", r.Parent, s.state)
	}
	for _, pid := range r.Zombies {
		assertZombie(t, pid, r.Parent, 0)
	}
	stopAndAssertGone(t, r)
}

func TestThreadLeader(t *testing.T) {
	r := Start(t, "thread-leader", "--exit-code", "4")
	if len(r.Zombies) != 1 {
		t.Fatalf("zombies=%v, want 1 PID", r.Zombies)
	}
	leader := r.Zombies[0]
	threads := pidList(t, r, "threads")
	if len(threads) != 1 {
		t.Fatalf("threads=%v, want 1 TID", threads)
	}
	if r.Fields["threads_alive"] != "1" {
		t.Errorf("threads_alive=%s, want 1", r.Fields["threads_alive"])
	}

	// The leader's exit status is set only when the whole group exits.
	assertZombie(t, leader, r.Parent, 0)
	// The zombie leader stays counted until the last thread exits.
	if got := status(t, leader)["Threads"]; got != "2" {
		t.Errorf("leader %d: Threads %s, want 2", leader, got)
	}
	thread := readStat(t, fmt.Sprintf("/proc/%d/task/%d/stat", leader, threads[0]))
	if !alive(thread.state) {
		t.Errorf("thread %d: state %s, want R or S", threads[0], thread.state)
	}
	stopAndAssertGone(t, r)
}

func TestTraced(t *testing.T) {
	r := Start(t, "traced", "--exit-code", "6")
	if len(r.Zombies) != 1 {
		t.Fatalf("zombies=%v, want 1 PID", r.Zombies)
	}
	if r.Tracer == 0 || r.Tracer == r.Parent {
		t.Fatalf("tracer=%d, want a PID other than parent %d", r.Tracer, r.Parent)
	}
	assertZombie(t, r.Zombies[0], r.Parent, 6)
	if got := status(t, r.Zombies[0])["TracerPid"]; got != strconv.Itoa(r.Tracer) {
		t.Errorf("zombie %d: TracerPid %s, want %d", r.Zombies[0], got, r.Tracer)
	}
	if s := stat(t, r.Tracer); !alive(s.state) || s.ppid != r.Parent {
		t.Errorf("tracer %d: state %s ppid %d, want R or S and %d", r.Tracer, s.state, s.ppid, r.Parent)
	}
	stopAndAssertGone(t, r)
}

func TestNowaitExec(t *testing.T) {
	r := Start(t, "nowait-exec", "--count", "2", "--exit-code", "42",
		"--", "zombiegen-test-marker", "--long-argument=abcdefghijklmnopqrstuvwxyz")
	if len(r.Zombies) != 2 {
		t.Fatalf("zombies=%v, want 2 PIDs", r.Zombies)
	}
	for _, pid := range r.Zombies {
		assertZombie(t, pid, r.Parent, 42)
		if got := stat(t, pid).comm; got != "sh" {
			t.Errorf("zombie %d: comm %q, want sh after exec", pid, got)
		}
	}
	stopAndAssertGone(t, r)
}

func TestWaitGo(t *testing.T) {
	r := Start(t, "nowait", "--wait-go")
	if r.Fields != nil {
		t.Fatalf("fields %v before go, want none", r.Fields)
	}
	// Give the scenario process time to fork a child it should not fork.
	time.Sleep(100 * time.Millisecond)
	guard := r.Cmd.Process.Pid
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", guard, guard))
	if err != nil {
		t.Fatal(err)
	}
	scenario, err := strconv.Atoi(strings.TrimSpace(string(children)))
	if err != nil {
		t.Fatalf("children of guard %d: %q, want one PID", guard, children)
	}
	if got := zombieChildren(t, scenario); len(got) != 0 {
		t.Errorf("zombie children of %d before go: %v, want none", scenario, got)
	}

	r.Go()
	if r.Parent != scenario {
		t.Errorf("parent=%d, want the scenario process %d", r.Parent, scenario)
	}
	for _, pid := range r.Zombies {
		assertZombie(t, pid, r.Parent, 0)
	}
	stopAndAssertGone(t, r)
}

func TestWaitGoCancelled(t *testing.T) {
	r := Start(t, "traced", "--wait-go")
	// Let the guard block SIGTERM first, so that the scenario sees it.
	time.Sleep(100 * time.Millisecond)
	r.Stop()
	if code := r.Cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after Stop before go, want 0", code)
	}
}

func TestDelay(t *testing.T) {
	start := time.Now()
	r := Start(t, "nowait", "--delay-ms", "300")
	if elapsed := time.Since(start); elapsed < 300*time.Millisecond {
		t.Errorf("ready after %v, want at least 300ms", elapsed)
	}
	assertZombie(t, r.Zombies[0], r.Parent, 0)
	stopAndAssertGone(t, r)
}

func TestStopOnStdinEOF(t *testing.T) {
	r := Start(t, "stopped")
	if err := r.stdin.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("zombiegen did not exit within 10s of stdin EOF")
	}
	if r.waitErr != nil {
		t.Errorf("zombiegen: %v; stderr:\n%s", r.waitErr, r.Stderr())
	}
	assertGone(t, r.PIDs())
}

func TestInvalidArguments(t *testing.T) {
	bin := Binary(t)
	cases := [][]string{
		{"no-such-mode"},
		{"nowait", "--count", "0"},
		{"nowait", "--exit-code", "256"},
		{"nowait", "--", "extra"},
		{"nowait", "--count"},
	}
	for _, args := range cases {
		err := exec.Command(bin, args...).Run()
		exitErr, ok := err.(*exec.ExitError)
		if !ok || exitErr.ExitCode() != 2 {
			t.Errorf("zombiegen %v: %v, want exit status 2", args, err)
		}
	}
}

func TestModesListed(t *testing.T) {
	for _, mode := range Modes {
		if !strings.Contains(string(source), `"`+mode+`"`) {
			t.Errorf("mode %s is not in zombiegen.c", mode)
		}
	}
}
