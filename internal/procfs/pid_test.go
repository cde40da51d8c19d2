package procfs

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestListPIDsFixture(t *testing.T) {
	pids, err := ListPIDs(fixtureRoot)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 3616, 3668, 3799}; !slices.Equal(pids, want) {
		t.Errorf("ListPIDs = %v, want %v", pids, want)
	}
}

func TestListPIDsSkipsNonNumeric(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"1", "42", "self", "+5", "0", "007x", "sys"} {
		if err := os.Mkdir(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	pids, err := ListPIDs(root)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{1, 42}; !slices.Equal(pids, want) {
		t.Errorf("ListPIDs = %v, want %v", pids, want)
	}
}

func TestListPIDsMissingRoot(t *testing.T) {
	_, err := ListPIDs(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestReadCmdlineFixtures(t *testing.T) {
	tests := []struct {
		pid  int
		want []string
	}{
		{3668, []string{"sleep", "120"}},
		{3616, []string{}},
		{2, []string{}},
	}
	for _, tt := range tests {
		got, err := ReadCmdline(fixtureRoot, tt.pid)
		if err != nil {
			t.Errorf("ReadCmdline(%d): %v", tt.pid, err)
			continue
		}
		if got == nil || !slices.Equal(got, tt.want) {
			t.Errorf("ReadCmdline(%d) = %q, want %q", tt.pid, got, tt.want)
		}
	}
}

func TestReadCmdlineWithoutNUL(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "7", "cmdline"), "nginx: worker process")
	got, err := ReadCmdline(root, 7)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"nginx: worker process"}; !slices.Equal(got, want) {
		t.Errorf("ReadCmdline = %q, want %q", got, want)
	}
}

func TestPIDNamespaceInodeLink(t *testing.T) {
	root := t.TempDir()
	linkPIDNamespace(t, root, 7, "pid:[4026531836]")
	linkPIDNamespace(t, root, 8, "net:[4026531840]")
	linkPIDNamespace(t, root, 9, "pid:[x]")

	inode, err := PIDNamespaceInode(root, 7)
	if err != nil {
		t.Fatal(err)
	}
	if inode != 4026531836 {
		t.Errorf("PIDNamespaceInode = %d, want 4026531836", inode)
	}
	for _, pid := range []int{8, 9} {
		if _, err := PIDNamespaceInode(root, pid); err == nil {
			t.Errorf("PIDNamespaceInode(%d) succeeded, want error", pid)
		}
	}
	if _, err := PIDNamespaceInode(root, 10); !errors.Is(err, ErrNoProcess) {
		t.Errorf("PIDNamespaceInode of missing pid: error %v, want ErrNoProcess", err)
	}
}

// The inode in the link text must be the inode of the nsfs file the link
// points to.
func TestPIDNamespaceInodeSelf(t *testing.T) {
	requireProc(t)
	inode, err := PIDNamespaceInode("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat("/proc/self/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	if want := info.Sys().(*syscall.Stat_t).Ino; inode != want {
		t.Errorf("PIDNamespaceInode = %d, want %d", inode, want)
	}
}

func TestBootTimeFixture(t *testing.T) {
	boot, err := BootTime(fixtureRoot)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Unix(1796399145, 0); !boot.Equal(want) {
		t.Errorf("BootTime = %v, want %v", boot, want)
	}
}

func TestBootTimeMissingLine(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "stat"), "cpu  1 2 3\nctxt 5\n")
	if _, err := BootTime(root); !errors.Is(err, errNoBootTime) {
		t.Errorf("error %v, want errNoBootTime", err)
	}
}

// The start time of this test process, computed from the boot time and its
// start ticks, must lie in the recent past.
func TestBootTimeStartOfSelf(t *testing.T) {
	requireProc(t)
	boot, err := BootTime("/proc")
	if err != nil {
		t.Fatal(err)
	}
	stat, err := ReadStat("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	age := time.Since(boot.Add(TicksToDuration(stat.StartTicks)))
	// btime has a resolution of one second, so allow that much in the future.
	if age < -2*time.Second || age > time.Hour {
		t.Errorf("test process started %v ago, want between -2s and 1h", age)
	}
}

func TestTicksToDuration(t *testing.T) {
	tests := []struct {
		ticks uint64
		want  time.Duration
	}{
		{0, 0},
		{1, 10 * time.Millisecond},
		{30967, 309670 * time.Millisecond},
		{math.MaxUint64, math.MaxInt64},
		{922337203685, 922337203685 * 10 * time.Millisecond}, // the largest that fits
		{922337203686, math.MaxInt64},
	}
	for _, tt := range tests {
		if got := TicksToDuration(tt.ticks); got != tt.want {
			t.Errorf("TicksToDuration(%d) = %v, want %v", tt.ticks, got, tt.want)
		}
	}
}

func TestWrapPIDErrorESRCH(t *testing.T) {
	err := wrapPIDError(5, &os.PathError{Op: "read", Path: "/proc/5/stat", Err: syscall.ESRCH})
	if !errors.Is(err, ErrNoProcess) {
		t.Errorf("error %v does not wrap ErrNoProcess", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
}

func TestWrapPIDErrorPermission(t *testing.T) {
	err := wrapPIDError(5, &os.PathError{Op: "open", Path: "/proc/5/stat", Err: syscall.EACCES})
	if errors.Is(err, ErrNoProcess) {
		t.Errorf("permission error %v wraps ErrNoProcess", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// linkPIDNamespace creates root/PID/ns/pid as a symbolic link to target, as
// procfs shows it. The fixtures do not contain these links, because Go
// module zip files leave out symbolic links.
func linkPIDNamespace(t *testing.T, root string, pid int, target string) {
	t.Helper()
	dir := filepath.Join(root, strconv.Itoa(pid), "ns")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "pid")); err != nil {
		t.Fatal(err)
	}
}

func requireProc(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skipf("procfs not mounted at /proc: %v", err)
	}
}
