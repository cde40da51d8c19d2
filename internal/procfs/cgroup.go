package procfs

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// CgroupEntry is one line of /proc/PID/cgroup, "hierarchy-ID:controllers:path".
type CgroupEntry struct {
	// HierarchyID is 0 for the cgroup v2 unified hierarchy.
	HierarchyID int
	// Controllers lists the v1 controllers bound to the hierarchy, including
	// named hierarchies such as "name=systemd". It is empty for cgroup v2.
	Controllers []string
	// Path is the cgroup path from the root of the hierarchy, as seen from
	// the cgroup namespace of the reading process.
	Path string
}

// cgroupV1Preferred lists, in order of preference, the v1 hierarchies whose
// path SelectCgroupPath uses when there is no cgroup v2 entry.
var cgroupV1Preferred = []string{"pids", "memory", "name=systemd"}

// ReadCgroup reads and parses /proc/PID/cgroup under root. The error wraps
// ErrNoProcess if the process does not exist.
func ReadCgroup(root string, pid int) ([]CgroupEntry, error) {
	data, err := readPIDFile(root, pid, "cgroup")
	if err != nil {
		return nil, err
	}
	entries, err := ParseCgroup(data)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	return entries, nil
}

// ParseCgroup parses the contents of a /proc/PID/cgroup file. The path may
// contain colons, because only the first two separate fields.
func ParseCgroup(data []byte) ([]CgroupEntry, error) {
	var entries []CgroupEntry
	for line := range bytes.Lines(data) {
		text := strings.TrimSuffix(string(line), "\n")
		if text == "" {
			continue
		}
		fields := strings.SplitN(text, ":", 3)
		if len(fields) != 3 {
			return nil, fmt.Errorf("parse cgroup: invalid line %q, want \"ID:controllers:path\"", text)
		}
		id, err := strconv.Atoi(fields[0])
		if err != nil {
			return nil, fmt.Errorf("parse cgroup: invalid hierarchy ID in %q: %w", text, err)
		}
		entry := CgroupEntry{HierarchyID: id, Path: fields[2]}
		if fields[1] != "" {
			entry.Controllers = strings.Split(fields[1], ",")
		}
		entries = append(entries, entry)
	}
	return entries, nil
}

// SelectCgroupPath returns the cgroup path that best identifies the
// container of a process: the cgroup v2 entry ("0::path") if present, else
// the v1 pids, memory or name=systemd entry, in that order. It returns false
// if none of these entries exists.
//
// A candidate whose path is "/" is passed over in favour of a later one that
// is not "/". In a hybrid setup, systemd may leave the v2 hierarchy unused at
// "/" while a container runtime puts the process into v1 cgroups.
func SelectCgroupPath(entries []CgroupEntry) (string, bool) {
	var candidates []string
	if i := slices.IndexFunc(entries, isCgroupV2); i >= 0 {
		candidates = append(candidates, entries[i].Path)
	}
	for _, controller := range cgroupV1Preferred {
		for _, entry := range entries {
			if entry.HierarchyID != 0 && slices.Contains(entry.Controllers, controller) {
				candidates = append(candidates, entry.Path)
				break
			}
		}
	}

	if len(candidates) == 0 {
		return "", false
	}
	for _, path := range candidates {
		if path != "/" {
			return path, true
		}
	}
	return candidates[0], true
}

func isCgroupV2(entry CgroupEntry) bool {
	return entry.HierarchyID == 0 && len(entry.Controllers) == 0
}
