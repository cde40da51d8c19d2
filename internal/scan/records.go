package scan

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zombietrace/zombietrace/internal/container"
	"github.com/zombietrace/zombietrace/internal/procfs"
	"github.com/zombietrace/zombietrace/internal/report"
)

// Group is the zombies of one parent.
type Group struct {
	ParentPID int
	// Parent is nil when the parent's /proc entry could not be read.
	Parent *report.Process
	// Records are lingering records with FoundAtStart set, one per zombie,
	// in ascending zombie PID order, diagnosed.
	Records []report.Record
}

// Zombies returns the zombies under procRoot grouped by parent, in
// ascending parent PID order, each as a diagnosed lingering record.
// parentPID, when not 0, keeps only the zombies of that parent.
func Zombies(procRoot string, parentPID int) ([]Group, error) {
	zombies, err := procfs.Zombies(procRoot)
	if err != nil {
		return nil, err
	}
	boot, err := procfs.BootTime(procRoot)
	if err != nil {
		return nil, err
	}
	b := builder{procRoot: procRoot, boot: boot, now: time.Now()}
	var groups []Group
	index := make(map[int]int) // parent PID to its index in groups
	for _, z := range zombies {
		ppid := z.Stat.PPID
		if parentPID != 0 && ppid != parentPID {
			continue
		}
		i, ok := index[ppid]
		if !ok {
			i = len(groups)
			index[ppid] = i
			groups = append(groups, Group{ParentPID: ppid, Parent: b.parent(ppid)})
		}
		groups[i].Records = append(groups[i].Records, b.record(z, groups[i].Parent))
	}
	slices.SortFunc(groups, func(a, b Group) int { return cmp.Compare(a.ParentPID, b.ParentPID) })
	diagnoseAll(groups, procRoot)
	return groups, nil
}

// builder turns /proc entries into records.
type builder struct {
	procRoot string
	boot     time.Time
	now      time.Time
}

func (b builder) record(z procfs.Process, parent *report.Process) report.Record {
	zombie := b.describe(z.Stat, z.Status, z.Cmdline, z.PIDNamespace)
	zombie.Exited = true
	r := report.Record{
		Type:         report.TypeLingering,
		Time:         b.now,
		Zombie:       zombie,
		Parent:       parent,
		Cgroup:       z.CgroupPath,
		FoundAtStart: true,
		// A leader whose group still has running threads shows state Z,
		// and its Threads count includes them.
		ThreadsAlive: z.Stat.NumThreads > 1,
	}
	if r.Cgroup != "" {
		r.Container = container.FromCgroup(r.Cgroup)
	}
	if code, err := readExitCode(b.procRoot, z.Stat.PID); err == nil && !r.ThreadsAlive {
		r.Exit = exitStatus(code)
	}
	if tracer := z.Status.TracerPID; tracer != 0 && tracer != z.Stat.PPID {
		r.Tracer = b.parent(tracer)
		if r.Tracer == nil {
			r.Tracer = &report.Process{PID: uint32(tracer), NSPID: uint32(tracer)}
		}
	}
	return r
}

// parent describes a live process, or returns nil when /proc no longer
// shows it.
func (b builder) parent(pid int) *report.Process {
	if pid <= 0 {
		return nil
	}
	stat, err := procfs.ReadStat(b.procRoot, pid)
	if err != nil {
		return nil
	}
	status, err := procfs.ReadStatus(b.procRoot, pid)
	if err != nil {
		return nil
	}
	args, _ := procfs.ReadCmdline(b.procRoot, pid)
	ns, _ := procfs.PIDNamespaceInode(b.procRoot, pid)
	p := b.describe(stat, status, args, ns)
	// NOTE: /proc does not show PR_SET_CHILD_SUBREAPER, so Subreaper
	// stays false in a scan.
	return &p
}

func (b builder) describe(stat procfs.Stat, status procfs.Status, args []string, ns uint64) report.Process {
	p := report.Process{
		PID:          uint32(stat.PID),
		NSPID:        uint32(stat.PID),
		PIDNamespace: uint32(ns),
		StartTime:    b.boot.Add(procfs.TicksToDuration(stat.StartTicks)),
		Comm:         stat.Comm,
	}
	if n := len(status.NSpid); n > 0 {
		p.NSPID = uint32(status.NSpid[n-1])
		p.NSInit = status.NSpid[n-1] == 1
	}
	if len(args) > 0 {
		p.Cmdline = args
	}
	return p
}

// statFieldExitCode is the exit_code field of /proc/PID/stat (proc(5),
// Linux 3.5 and later): the wait status of an exited task.
const statFieldExitCode = 52

// readExitCode returns the wait status from /proc/PID/stat. procfs.Stat
// does not parse this field.
func readExitCode(procRoot string, pid int) (uint32, error) {
	data, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	closing := strings.LastIndexByte(string(data), ')')
	if closing < 0 {
		return 0, fmt.Errorf("pid %d: stat has no parenthesized comm", pid)
	}
	// fields[0] is field 3, the state.
	fields := strings.Fields(string(data[closing+1:]))
	i := statFieldExitCode - 3
	if len(fields) <= i {
		return 0, fmt.Errorf("pid %d: stat has no field %d", pid, statFieldExitCode)
	}
	code, err := strconv.ParseUint(fields[i], 10, 32)
	return uint32(code), err
}

// exitStatus decodes a wait status word.
func exitStatus(status uint32) *report.ExitStatus {
	sig := status & 0x7f
	if sig == 0 {
		code := int(status>>8) & 0xff
		return &report.ExitStatus{Code: &code}
	}
	return &report.ExitStatus{
		Signal:     unix.SignalName(unix.Signal(sig)),
		CoreDumped: status&0x80 != 0,
	}
}
