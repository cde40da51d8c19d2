package diagnose

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zombietrace/zombietrace/internal/procfs"
	"github.com/zombietrace/zombietrace/internal/report"
)

// sigchldBit is SIGCHLD (17) in the SigBlk, SigIgn and SigCgt masks of
// /proc/PID/status, where bit n-1 stands for signal n.
const sigchldBit = 1 << (17 - 1)

// startTolerance is how far the start time of a process in a record may be
// from the one computed from /proc for both to count as the same process.
// /proc/stat gives the boot time in whole seconds, and the tracer derives
// its wall clock from CLOCK_BOOTTIME, so the two can differ by about 1 s.
const startTolerance = 2 * time.Second

// liveProcess is the state of a process in /proc at diagnosis time.
type liveProcess struct {
	pid    int
	stat   procfs.Stat
	status procfs.Status
	// pidNS is the inode of its PID namespace, 0 when unreadable.
	pidNS uint64
}

// errOtherProcess is returned when the PID now belongs to a process other
// than the one in the record.
var errOtherProcess = errors.New("PID now belongs to another process")

// readLive reads a process from /proc and checks that it is the process
// the record describes, by start time when the record has one.
func readLive(procRoot string, p *report.Process) (*liveProcess, error) {
	pid := int(p.PID)
	stat, err := procfs.ReadStat(procRoot, pid)
	if err != nil {
		return nil, err
	}
	if !p.StartTime.IsZero() {
		boot, err := procfs.BootTime(procRoot)
		if err != nil {
			return nil, err
		}
		started := boot.Add(procfs.TicksToDuration(stat.StartTicks))
		if d := started.Sub(p.StartTime); d > startTolerance || d < -startTolerance {
			return nil, fmt.Errorf("pid %d: %w", pid, errOtherProcess)
		}
	}
	status, err := procfs.ReadStatus(procRoot, pid)
	if err != nil {
		return nil, err
	}
	live := &liveProcess{pid: pid, stat: stat, status: status}
	live.pidNS, _ = procfs.PIDNamespaceInode(procRoot, pid)
	return live, nil
}

func (l *liveProcess) stopped() bool { return l.stat.State == 'T' || l.stat.State == 't' }

func (l *liveProcess) nsInit() bool {
	n := len(l.status.NSpid)
	return n > 0 && l.status.NSpid[n-1] == 1
}

func (l *liveProcess) catchesSIGCHLD() bool { return l.status.SigCgt&sigchldBit != 0 }
func (l *liveProcess) ignoresSIGCHLD() bool { return l.status.SigIgn&sigchldBit != 0 }
func (l *liveProcess) blocksSIGCHLD() bool  { return l.status.SigBlk&sigchldBit != 0 }

// zombieChildren returns the PIDs of the children of a process that are in
// state Z, in ascending order. It reads /proc/PID/task/TID/children, which
// needs CONFIG_PROC_CHILDREN, and returns nil when that is missing.
func zombieChildren(procRoot string, pid int) []int {
	tasks, err := os.ReadDir(filepath.Join(procRoot, strconv.Itoa(pid), "task"))
	if err != nil {
		return nil
	}
	var zombies []int
	for _, task := range tasks {
		data, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "task", task.Name(), "children"))
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(data)) {
			child, err := strconv.Atoi(field)
			if err != nil {
				continue
			}
			if stat, err := procfs.ReadStat(procRoot, child); err == nil && stat.State == 'Z' {
				zombies = append(zombies, child)
			}
		}
	}
	slices.Sort(zombies)
	return slices.Compact(zombies)
}

// frozenCgroup returns evidence that the cgroup freezer holds a process,
// or "" when it does not. It checks the cgroup v2 cgroup.events file and
// the v1 freezer.state file, found through the mounts in
// procRoot/self/mountinfo.
func frozenCgroup(procRoot string, pid int) string {
	entries, err := procfs.ReadCgroup(procRoot, pid)
	if err != nil {
		return ""
	}
	mounts, err := readCgroupMounts(filepath.Join(procRoot, "self", "mountinfo"))
	if err != nil {
		return ""
	}
	for _, entry := range entries {
		if entry.HierarchyID == 0 && len(entry.Controllers) == 0 {
			if text := frozenV2(mounts, entry.Path); text != "" {
				return text
			}
			continue
		}
		if slices.Contains(entry.Controllers, "freezer") {
			if text := frozenV1(mounts, entry.Path); text != "" {
				return text
			}
		}
	}
	return ""
}

func frozenV2(mounts []cgroupMount, path string) string {
	for _, m := range mounts {
		if m.fsType != "cgroup2" {
			continue
		}
		dir, ok := m.dir(path)
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(data)) {
			if strings.TrimSpace(line) == "frozen 1" {
				return fmt.Sprintf("cgroup v2 %s is frozen (cgroup.events: frozen 1)", path)
			}
		}
		freeze, err := os.ReadFile(filepath.Join(dir, "cgroup.freeze"))
		if err == nil && strings.TrimSpace(string(freeze)) == "1" {
			return fmt.Sprintf("cgroup v2 %s is being frozen (cgroup.freeze: 1)", path)
		}
	}
	return ""
}

func frozenV1(mounts []cgroupMount, path string) string {
	for _, m := range mounts {
		if m.fsType != "cgroup" || !slices.Contains(m.superOptions, "freezer") {
			continue
		}
		dir, ok := m.dir(path)
		if !ok {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
		if err != nil {
			continue
		}
		// freezer.state shows the effective state, which includes a
		// frozen ancestor cgroup.
		state := strings.TrimSpace(string(data))
		if state == "FROZEN" || state == "FREEZING" {
			return fmt.Sprintf("cgroup v1 freezer %s is %s (freezer.state)", path, state)
		}
	}
	return ""
}

// cgroupMount is one cgroup or cgroup2 line of mountinfo.
type cgroupMount struct {
	root         string // path of the mounted cgroup within its hierarchy
	mountPoint   string
	fsType       string
	superOptions []string
}

// dir returns the directory of a cgroup path under the mount, and false
// when the mount does not contain it.
func (m cgroupMount) dir(path string) (string, bool) {
	if m.root == "/" {
		return filepath.Join(m.mountPoint, path), true
	}
	rest, ok := strings.CutPrefix(path, m.root)
	if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
		return "", false
	}
	return filepath.Join(m.mountPoint, rest), true
}

// readCgroupMounts parses the cgroup mounts of a mountinfo file, whose
// lines are "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE
// SOURCE SUPEROPTIONS" (proc_pid_mountinfo(5)).
func readCgroupMounts(path string) ([]cgroupMount, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mounts []cgroupMount
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || len(fields) < sep+4 {
			continue
		}
		fsType := fields[sep+1]
		if fsType != "cgroup" && fsType != "cgroup2" {
			continue
		}
		mounts = append(mounts, cgroupMount{
			root:         unescapeMountPath(fields[3]),
			mountPoint:   unescapeMountPath(fields[4]),
			fsType:       fsType,
			superOptions: strings.Split(fields[sep+3], ","),
		})
	}
	return mounts, scanner.Err()
}

// unescapeMountPath undoes the octal escapes (\040 for a space) that the
// kernel writes in mountinfo paths.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
