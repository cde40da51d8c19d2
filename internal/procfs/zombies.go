package procfs

import (
	"errors"
	"fmt"
)

// Process is the information about one zombie that Zombies collects.
type Process struct {
	Stat    Stat
	Status  Status
	Cmdline []string // empty for a zombie, because its memory is gone
	// CgroupPath is the path that SelectCgroupPath picks, or "" if the
	// process has no suitable cgroup entry.
	CgroupPath string
	// PIDNamespace is the inode number of the PID namespace, as returned by
	// PIDNamespaceInode.
	PIDNamespace uint64
}

// Zombies scans root for processes whose State in /proc/PID/stat is 'Z' and
// returns them in ascending PID order. A process that exits or is reaped
// during the scan is skipped without an error.
//
// NOTE: a thread group leader that exited while other threads of its group
// still run also shows 'Z', although its parent cannot reap it yet. Its
// Stat.NumThreads is then greater than 1, because it counts the leader and
// the running threads.
func Zombies(root string) ([]Process, error) {
	pids, err := ListPIDs(root)
	if err != nil {
		return nil, err
	}

	var zombies []Process
	for _, pid := range pids {
		stat, err := ReadStat(root, pid)
		if errors.Is(err, ErrNoProcess) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("scan for zombies: %w", err)
		}
		if stat.State != 'Z' {
			continue
		}

		process, err := readZombie(root, pid, stat)
		if errors.Is(err, ErrNoProcess) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("scan for zombies: %w", err)
		}
		zombies = append(zombies, process)
	}
	return zombies, nil
}

// readZombie reads the rest of the information about a process whose stat
// has already been read.
func readZombie(root string, pid int, stat Stat) (Process, error) {
	process := Process{Stat: stat}
	var err error
	if process.Status, err = ReadStatus(root, pid); err != nil {
		return Process{}, err
	}
	if process.Cmdline, err = ReadCmdline(root, pid); err != nil {
		return Process{}, err
	}
	cgroups, err := ReadCgroup(root, pid)
	if err != nil {
		return Process{}, err
	}
	process.CgroupPath, _ = SelectCgroupPath(cgroups)
	if process.PIDNamespace, err = PIDNamespaceInode(root, pid); err != nil {
		return Process{}, err
	}
	return process, nil
}
