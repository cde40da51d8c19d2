package diagnose

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/report"
)

func TestWaitsEvidenceOtherPIDs(t *testing.T) {
	w := &report.Waits{Summary: report.WaitOtherPIDs, Calls: 3, Recent: []report.WaitCall{
		{Syscall: "wait4", Target: "pid 52"},
		{Syscall: "wait4", Target: "pid 62"},
		{Syscall: "wait4", Target: "pid 52"},
	}}
	want := "3 wait4 calls since death, all for other PIDs: pid 52, pid 62"
	if got := waitsEvidence(w); got != want {
		t.Errorf("waitsEvidence = %q, want %q", got, want)
	}
}

func TestWaitsEvidenceMixedSyscalls(t *testing.T) {
	w := &report.Waits{Summary: report.WaitNothingDone, Calls: 2, Recent: []report.WaitCall{
		{Syscall: "wait4", Target: "any", Options: []string{"WNOHANG"}},
		{Syscall: "waitid", Target: "any", Options: []string{"WNOHANG", "WEXITED"}},
	}}
	want := "2 wait calls since death, all WNOHANG and none returned a child: " +
		"wait4(any,WNOHANG)=0 waitid(any,WNOHANG|WEXITED)=0"
	if got := waitsEvidence(w); got != want {
		t.Errorf("waitsEvidence = %q, want %q", got, want)
	}
}

func TestDiagnoseSkipsReapedRecord(t *testing.T) {
	r := &report.Record{Type: report.TypeReaped, Parent: &report.Process{PID: 1}}
	Diagnose(r, t.TempDir())
	if r.Diagnosis != nil {
		t.Errorf("reaped record got diagnosis %+v, want none", *r.Diagnosis)
	}
	Diagnose(nil, t.TempDir())
}

func TestDiagnoseUnexplainedWithoutParent(t *testing.T) {
	r := &report.Record{
		Type:    report.TypeLingering,
		Zombie:  report.Process{PID: 4242},
		SIGCHLD: &report.SIGCHLD{Disposition: "default", Delivery: "none"},
		Waits:   &report.Waits{Summary: report.WaitOther, Calls: 1},
	}
	// An empty directory as procfs: nothing is live.
	Diagnose(r, t.TempDir())
	if r.Diagnosis == nil || r.Diagnosis.Verdict != Unexplained {
		t.Fatalf("diagnosis %+v, want verdict %s", r.Diagnosis, Unexplained)
	}
	for _, want := range []string{"the record names no parent", "exit signal is 0"} {
		if !slices.ContainsFunc(r.Diagnosis.Evidence, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no evidence line contains %q: %q", want, r.Diagnosis.Evidence)
		}
	}
}

func TestDiagnoseParentExitedWithoutHandover(t *testing.T) {
	r := &report.Record{
		Type:   report.TypeLingering,
		Zombie: report.Process{PID: 4242},
		Parent: &report.Process{PID: 4241, Comm: "worker", Exited: true},
	}
	Diagnose(r, t.TempDir())
	if r.Diagnosis == nil || r.Diagnosis.Verdict != ParentExited {
		t.Fatalf("diagnosis %+v, want verdict %s", r.Diagnosis, ParentExited)
	}
}

func TestReadLiveRejectsOtherProcess(t *testing.T) {
	self := &report.Process{PID: uint32(os.Getpid()), StartTime: time.Now().Add(-time.Hour * 24 * 365)}
	_, err := readLive("/proc", self)
	if !errors.Is(err, errOtherProcess) {
		t.Errorf("readLive with a wrong start time: %v, want errOtherProcess", err)
	}
	self.StartTime = time.Time{}
	if _, err := readLive("/proc", self); err != nil {
		t.Errorf("readLive without a start time: %v", err)
	}
}

func TestReadCgroupMounts(t *testing.T) {
	mountinfo := strings.Join([]string{
		"23 1 0:21 / /proc rw,nosuid - proc proc rw",
		"31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755",
		"38 31 0:35 / /sys/fs/cgroup/freezer rw,relatime shared:5 - cgroup cgroup rw,freezer",
		"40 31 0:37 /kubepods /sys/fs/cgroup/unified\\040dir rw - cgroup2 cgroup2 rw",
		"bad line",
	}, "\n")
	path := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(path, []byte(mountinfo), 0o600); err != nil {
		t.Fatal(err)
	}

	mounts, err := readCgroupMounts(path)
	if err != nil {
		t.Fatal(err)
	}

	if len(mounts) != 2 {
		t.Fatalf("got %d cgroup mounts, want 2: %+v", len(mounts), mounts)
	}
	if m := mounts[0]; m.fsType != "cgroup" || !slices.Contains(m.superOptions, "freezer") {
		t.Errorf("first mount %+v, want the v1 freezer", m)
	}
	v2 := mounts[1]
	if v2.mountPoint != "/sys/fs/cgroup/unified dir" {
		t.Errorf("mount point %q, want the \\040 unescaped to a space", v2.mountPoint)
	}
	if dir, ok := v2.dir("/kubepods/pod1"); !ok || dir != "/sys/fs/cgroup/unified dir/pod1" {
		t.Errorf("dir(/kubepods/pod1) = %q, %v", dir, ok)
	}
	if _, ok := v2.dir("/kubepodsX"); ok {
		t.Error("dir(/kubepodsX) found, want outside the mount")
	}
	if _, ok := v2.dir("/system.slice"); ok {
		t.Error("dir(/system.slice) found, want outside the mount")
	}
}

func TestVerdictsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/verdicts.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Verdicts {
		if !strings.Contains(string(doc), "## `"+v+"`") {
			t.Errorf("docs/verdicts.md has no section \"## `%s`\"", v)
		}
	}
}
