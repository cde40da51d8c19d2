package procfs

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// ListPIDs returns the process IDs under root in ascending order. Only
// entries whose names are all decimal digits count, so "self" and the other
// procfs files are left out. The result contains no thread IDs other than
// thread group leaders, because procfs lists only those at its top level.
func ListPIDs(root string) ([]int, error) {
	dir, err := os.Open(root)
	if err != nil {
		return nil, fmt.Errorf("list pids: %w", err)
	}
	defer dir.Close()

	// Readdirnames does not stat each entry, unlike os.ReadDir.
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list pids in %s: %w", root, err)
	}

	pids := make([]int, 0, len(names))
	for _, name := range names {
		if pid, ok := parsePIDName(name); ok {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids, nil
}

// parsePIDName parses a directory name made only of decimal digits.
func parsePIDName(name string) (int, bool) {
	if name == "" || strings.TrimLeft(name, "0123456789") != "" {
		return 0, false
	}
	pid, err := strconv.Atoi(name)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

// ReadCmdline reads /proc/PID/cmdline under root and splits it at NUL
// bytes. It returns an empty slice and no error for zombies and kernel
// threads, whose cmdline is empty. A process that rewrote its argument area
// may have no NUL bytes at all, and its cmdline is returned as one string.
func ReadCmdline(root string, pid int) ([]string, error) {
	data, err := readPIDFile(root, pid, "cmdline")
	if err != nil {
		return nil, err
	}
	data = bytes.TrimSuffix(data, []byte{0})
	if len(data) == 0 {
		return []string{}, nil
	}
	return strings.Split(string(data), "\x00"), nil
}

// PIDNamespaceInode returns the inode number of the PID namespace of a
// process, read from the /proc/PID/ns/pid link ("pid:[4026531836]"). Two
// processes are in the same PID namespace when the numbers are equal. The
// link is readable for zombies too.
func PIDNamespaceInode(root string, pid int) (uint64, error) {
	target, err := os.Readlink(filepath.Join(root, strconv.Itoa(pid), "ns", "pid"))
	if err != nil {
		return 0, wrapPIDError(pid, err)
	}

	number, hasPrefix := strings.CutPrefix(target, "pid:[")
	number, hasSuffix := strings.CutSuffix(number, "]")
	if !hasPrefix || !hasSuffix {
		return 0, fmt.Errorf("pid %d: invalid ns/pid link %q, want \"pid:[INODE]\"", pid, target)
	}
	inode, err := strconv.ParseUint(number, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("pid %d: invalid ns/pid link %q: %w", pid, target, err)
	}
	return inode, nil
}
