package procfs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestZombiesFixture(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(fixtureRoot)); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{2, 3616, 3668, 3799} {
		linkPIDNamespace(t, root, pid, "pid:[4026531836]")
	}
	// A zombie whose directory lost every file but stat, as when it is
	// reaped between two reads, must be skipped.
	zombieStat, err := os.ReadFile(filepath.Join(root, "3616", "stat"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "9999", "stat"), string(zombieStat))

	zombies, err := Zombies(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(zombies) != 1 {
		t.Fatalf("got %d zombies, want 1: %+v", len(zombies), zombies)
	}
	z := zombies[0]
	if z.Stat.PID != 3616 || z.Status.PID != 3616 {
		t.Errorf("stat PID %d, status PID %d, want 3616", z.Stat.PID, z.Status.PID)
	}
	if z.Stat.Comm != "a b) (c\xff\xfe) z" {
		t.Errorf("Comm = %q", z.Stat.Comm)
	}
	if len(z.Cmdline) != 0 {
		t.Errorf("Cmdline = %q, want empty", z.Cmdline)
	}
	if z.CgroupPath != "/" {
		t.Errorf("CgroupPath = %q, want /", z.CgroupPath)
	}
	if z.PIDNamespace != 4026531836 {
		t.Errorf("PIDNamespace = %d, want 4026531836", z.PIDNamespace)
	}
}

func TestZombiesMissingRoot(t *testing.T) {
	if _, err := Zombies(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Zombies of a missing root succeeded, want error")
	}
}

func TestZombiesRealZombie(t *testing.T) {
	requireProc(t)
	pid := startZombie(t, nil)

	want, err := ReadStat("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	zombies, err := Zombies("/proc")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(zombies, func(p Process) bool { return p.Stat.PID == pid })
	if i < 0 {
		t.Fatalf("zombie %d not in Zombies(/proc)", pid)
	}
	z := zombies[i]

	if z.Stat.PPID != os.Getpid() {
		t.Errorf("stat PPID = %d, want test process %d", z.Stat.PPID, os.Getpid())
	}
	if z.Status.PPID != os.Getpid() {
		t.Errorf("status PPID = %d, want test process %d", z.Status.PPID, os.Getpid())
	}
	if z.Stat.StartTicks != want.StartTicks {
		t.Errorf("StartTicks = %d, want %d from ReadStat", z.Stat.StartTicks, want.StartTicks)
	}
	if z.Status.State != 'Z' {
		t.Errorf("status State = %q, want 'Z'", z.Status.State)
	}
	if z.Stat.Comm != "true" {
		t.Errorf("Comm = %q, want true", z.Stat.Comm)
	}
	if z.Cmdline == nil || len(z.Cmdline) != 0 {
		t.Errorf("Cmdline = %#v, want empty non-nil", z.Cmdline)
	}
	entries, err := ReadCgroup("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	if path, _ := SelectCgroupPath(entries); z.CgroupPath != path {
		t.Errorf("CgroupPath = %q, want %q", z.CgroupPath, path)
	}
}

// A zombie that is the init process of its own PID namespace, as in a
// container, shows its PID in both namespaces, outermost first.
func TestZombiesInChildPIDNamespace(t *testing.T) {
	requireProc(t)
	if os.Geteuid() != 0 {
		t.Skip("creating a PID namespace needs root")
	}
	pid := startZombie(t, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID})

	zombies, err := Zombies("/proc")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(zombies, func(p Process) bool { return p.Stat.PID == pid })
	if i < 0 {
		t.Fatalf("zombie %d not in Zombies(/proc)", pid)
	}
	z := zombies[i]

	if want := []int{pid, 1}; !slices.Equal(z.Status.NSpid, want) {
		t.Errorf("NSpid = %v, want %v", z.Status.NSpid, want)
	}
	if want := []int{pid, 1}; !slices.Equal(z.Status.NStgid, want) {
		t.Errorf("NStgid = %v, want %v", z.Status.NStgid, want)
	}
	own, err := PIDNamespaceInode("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if z.PIDNamespace == own || z.PIDNamespace == 0 {
		t.Errorf("zombie PID namespace %d, want nonzero and not ours (%d)", z.PIDNamespace, own)
	}
}

func TestReadReapedProcess(t *testing.T) {
	requireProc(t)
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid

	// NOTE: the kernel may reuse the PID in the meantime, which would make
	// this test fail. PIDs are reused only after the PID counter wraps.
	if _, err := ReadStat("/proc", pid); !errors.Is(err, ErrNoProcess) {
		t.Errorf("ReadStat: error %v, want ErrNoProcess", err)
	}
	if _, err := ReadStatus("/proc", pid); !errors.Is(err, ErrNoProcess) {
		t.Errorf("ReadStatus: error %v, want ErrNoProcess", err)
	}
	if _, err := ReadCmdline("/proc", pid); !errors.Is(err, ErrNoProcess) {
		t.Errorf("ReadCmdline: error %v, want ErrNoProcess", err)
	}
	if _, err := ReadCgroup("/proc", pid); !errors.Is(err, ErrNoProcess) {
		t.Errorf("ReadCgroup: error %v, want ErrNoProcess", err)
	}
	if _, err := PIDNamespaceInode("/proc", pid); !errors.Is(err, ErrNoProcess) {
		t.Errorf("PIDNamespaceInode: error %v, want ErrNoProcess", err)
	}
}

func TestReadStatusOfSelf(t *testing.T) {
	requireProc(t)
	status, err := ReadStatus("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if status.PID != os.Getpid() || status.TGID != os.Getpid() {
		t.Errorf("PID %d, TGID %d, want %d", status.PID, status.TGID, os.Getpid())
	}
	if status.PPID != os.Getppid() {
		t.Errorf("PPID = %d, want %d", status.PPID, os.Getppid())
	}
	// The Go runtime always runs several threads.
	if status.Threads < 2 {
		t.Errorf("Threads = %d, want at least 2", status.Threads)
	}
	if n := len(status.NSpid); n == 0 || status.NSpid[n-1] != os.Getpid() {
		t.Errorf("NSpid = %v, want it to end with %d", status.NSpid, os.Getpid())
	}
}

// startZombie starts /bin/true as a child of the test process and waits
// until it is a zombie. The test's cleanup reaps it.
func startZombie(t *testing.T, attr *syscall.SysProcAttr) int {
	t.Helper()
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start /bin/true: %v", err)
	}
	t.Cleanup(func() {
		if err := cmd.Wait(); err != nil {
			t.Errorf("reap zombie %d: %v", cmd.Process.Pid, err)
		}
	})

	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := ReadStat("/proc", pid)
		if err != nil {
			t.Fatalf("read stat of child %d: %v", pid, err)
		}
		if stat.State == 'Z' {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %d still in state %q after 10s, want 'Z'", pid, stat.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func BenchmarkZombiesScan(b *testing.B) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		b.Skipf("procfs not mounted at /proc: %v", err)
	}
	pids, err := ListPIDs("/proc")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(len(pids)), "pids")
	for b.Loop() {
		if _, err := Zombies("/proc"); err != nil {
			b.Fatal(err)
		}
	}
}
