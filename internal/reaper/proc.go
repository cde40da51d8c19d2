//go:build linux

package reaper

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procStatus holds the fields of /proc/PID/status that Reap reads.
type procStatus struct {
	state byte
	tgid  int
	nsPID []int
}

func readStatus(path string) (procStatus, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return procStatus{}, err
	}
	var st procStatus
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch key {
		case "State":
			if value != "" {
				st.state = value[0]
			}
		case "Tgid":
			st.tgid, err = strconv.Atoi(value)
		case "NSpid":
			st.nsPID, err = parseInts(value)
		}
		if err != nil {
			return procStatus{}, fmt.Errorf("parse %s %s: %w", path, key, err)
		}
	}
	return st, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, field := range strings.Fields(s) {
		n, err := strconv.Atoi(field)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// checkTarget confirms that parent has a zombie child childNS and returns the
// thread of parent that should run the injected call.
//
// NOTE: parent is identified by PID only, so a parent that exits and whose PID
// is reused between this check and PTRACE_SEIZE is traced in its place. The
// injected waitid with WNOHANG then collects at most a zombie child of that
// process with the same PID.
func checkTarget(parent, childNS int) (int, error) {
	st, err := readStatus(fmt.Sprintf("/proc/%d/status", parent))
	if err != nil {
		return 0, fmt.Errorf("read parent %d: %w", parent, err)
	}
	if st.tgid != parent {
		return 0, fmt.Errorf("parent %d is a thread of process %d, pass the process id: %w",
			parent, st.tgid, ErrInvalidPID)
	}
	if len(st.nsPID) == 0 {
		return 0, fmt.Errorf("parent %d: NSpid missing from /proc status", parent)
	}

	if err := checkChild(parent, len(st.nsPID)-1, childNS); err != nil {
		return 0, err
	}
	return pickThread(parent)
}

// checkChild looks childNS up among the children of every thread of parent.
// depth is the level of the parent's PID namespace in NSpid lines read from
// the caller's /proc. The check is advisory: the injected waitid uses WNOHANG,
// so a child that changes state afterwards is not waited for.
func checkChild(parent, depth, childNS int) error {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", parent))
	if err != nil || len(files) == 0 {
		// NOTE: kernels without CONFIG_PROC_CHILDREN have no children file,
		// so only the injected waitid checks the child.
		return nil
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read children of %d: %w", parent, err)
		}
		children, err := parseInts(string(data))
		if err != nil {
			return fmt.Errorf("parse %s: %w", file, err)
		}
		for _, child := range children {
			st, err := readStatus(fmt.Sprintf("/proc/%d/status", child))
			if err != nil || len(st.nsPID) <= depth || st.nsPID[depth] != childNS {
				continue
			}
			if st.state != 'Z' {
				return fmt.Errorf("child %d of parent %d is in state %c: %w",
					childNS, parent, st.state, ErrNotZombie)
			}
			return nil
		}
	}
	return fmt.Errorf("parent %d has no child %d in its pid namespace: %w", parent, childNS, ErrNoChild)
}

// pickThread returns the thread-group leader unless it has exited, since an
// exited leader stays a zombie until the last thread exits and cannot be
// stopped. waitid collects children of every thread in the group, so any live
// thread can run it.
func pickThread(parent int) (int, error) {
	leader, err := readStatus(fmt.Sprintf("/proc/%d/task/%d/status", parent, parent))
	if err == nil && leader.state != 'Z' && leader.state != 'X' {
		return parent, nil
	}

	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", parent))
	if err != nil {
		return 0, fmt.Errorf("list threads of %d: %w", parent, err)
	}
	for _, entry := range entries {
		tid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		st, err := readStatus(fmt.Sprintf("/proc/%d/task/%d/status", parent, tid))
		if err == nil && st.state != 'Z' && st.state != 'X' {
			return tid, nil
		}
	}
	return 0, fmt.Errorf("parent %d has no live thread: %w", parent, ErrParentExited)
}

// findVDSO returns the address range of the [vdso] mapping of pid.
func findVDSO(pid int) (start, end uint64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if !strings.HasSuffix(line, "[vdso]") {
			continue
		}
		bounds, _, _ := strings.Cut(line, " ")
		lo, hi, _ := strings.Cut(bounds, "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err := errors.Join(err1, err2); err != nil {
			return 0, 0, fmt.Errorf("parse vdso range %q: %w", bounds, err)
		}
		return start, end, nil
	}
	return 0, 0, fmt.Errorf("pid %d has no vdso mapping", pid)
}
