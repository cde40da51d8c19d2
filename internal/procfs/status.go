package procfs

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Status contains the fields of /proc/PID/status that zombietrace uses.
// Fields whose line is missing, as on kernels that predate it, stay zero.
type Status struct {
	Name      string // Name line, with the kernel's escapes for '\n' and '\\' undone
	State     byte   // first byte of the State line, for example 'Z'
	TGID      int    // Tgid line, the thread group ID
	PID       int    // Pid line
	PPID      int    // PPid line
	TracerPID int    // TracerPid line, 0 when not traced
	Threads   int    // Threads line

	// NStgid and NSpid contain the thread group ID and the PID in each PID
	// namespace the process is in, outermost (the PID namespace of the procfs
	// mount) first and the process's own namespace last, as the kernel
	// prints them. Linux 4.1 added these lines (proc_pid_status(5)), and only
	// kernels built with CONFIG_PID_NS print them.
	NStgid []int
	NSpid  []int

	// Signal masks. Bit n-1 is set when signal n is pending, blocked,
	// ignored or caught.
	SigPnd uint64 // signals pending for the thread
	ShdPnd uint64 // signals pending for the whole thread group
	SigBlk uint64 // blocked signals
	SigIgn uint64 // ignored signals
	SigCgt uint64 // caught signals, those with a handler
}

// errMissingStatusLine is returned when a line that every kernel prints is absent.
var errMissingStatusLine = errors.New("missing line")

// ReadStatus reads and parses /proc/PID/status under root. The error wraps
// ErrNoProcess if the process does not exist.
func ReadStatus(root string, pid int) (Status, error) {
	data, err := readPIDFile(root, pid, "status")
	if err != nil {
		return Status{}, err
	}
	status, err := ParseStatus(data)
	if err != nil {
		return Status{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return status, nil
}

// ParseStatus parses the contents of a /proc/PID/status file. Lines that
// Status does not contain are ignored. The Name, State, Pid and PPid lines
// are required.
func ParseStatus(data []byte) (Status, error) {
	var status Status
	seen := make(map[string]bool)
	for line := range bytes.Lines(data) {
		key, value, ok := strings.Cut(strings.TrimSuffix(string(line), "\n"), ":")
		if !ok {
			continue
		}
		if err := status.setField(key, value); err != nil {
			return Status{}, fmt.Errorf("parse status: %s: %w", key, err)
		}
		seen[key] = true
	}

	for _, key := range []string{"Name", "State", "Pid", "PPid"} {
		if !seen[key] {
			return Status{}, fmt.Errorf("parse status: %s: %w", key, errMissingStatusLine)
		}
	}
	return status, nil
}

// setField parses the value of one status line into s. value is the text
// after the colon, including the tab that separates it from the key.
func (s *Status) setField(key, value string) error {
	var err error
	switch key {
	case "Name":
		// Only the tab after the colon is a separator, because the name
		// itself may start or end with white space.
		s.Name = unescapeName(strings.TrimPrefix(value, "\t"))
	case "State":
		s.State, err = parseState(value)
	case "Tgid":
		s.TGID, err = strconv.Atoi(strings.TrimSpace(value))
	case "Pid":
		s.PID, err = strconv.Atoi(strings.TrimSpace(value))
	case "PPid":
		s.PPID, err = strconv.Atoi(strings.TrimSpace(value))
	case "TracerPid":
		s.TracerPID, err = strconv.Atoi(strings.TrimSpace(value))
	case "Threads":
		s.Threads, err = strconv.Atoi(strings.TrimSpace(value))
	case "NStgid":
		s.NStgid, err = parseIntList(value)
	case "NSpid":
		s.NSpid, err = parseIntList(value)
	case "SigPnd":
		s.SigPnd, err = parseSignalMask(value)
	case "ShdPnd":
		s.ShdPnd, err = parseSignalMask(value)
	case "SigBlk":
		s.SigBlk, err = parseSignalMask(value)
	case "SigIgn":
		s.SigIgn, err = parseSignalMask(value)
	case "SigCgt":
		s.SigCgt, err = parseSignalMask(value)
	}
	return err
}

// parseState returns the state letter of a value such as "\tZ (zombie)".
func parseState(value string) (byte, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, errors.New("empty state")
	}
	return value[0], nil
}

// parseIntList parses white-space separated decimal integers.
func parseIntList(value string) ([]int, error) {
	fields := strings.Fields(value)
	list := make([]int, 0, len(fields))
	for _, field := range fields {
		n, err := strconv.Atoi(field)
		if err != nil {
			return nil, err
		}
		list = append(list, n)
	}
	return list, nil
}

// parseSignalMask parses a hexadecimal signal mask such as "0000000000010000".
func parseSignalMask(value string) (uint64, error) {
	return strconv.ParseUint(strings.TrimSpace(value), 16, 64)
}

// unescapeName undoes the escaping of the Name line. The kernel
// (proc_task_name in fs/proc/array.c) prints a newline as `\n`, a backslash
// as `\\` and every other byte as is.
func unescapeName(name string) string {
	if !strings.Contains(name, `\`) {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		if name[i] != '\\' || i+1 == len(name) {
			b.WriteByte(name[i])
			continue
		}
		i++
		switch name[i] {
		case 'n':
			b.WriteByte('\n')
		case '\\':
			b.WriteByte('\\')
		default:
			b.WriteByte('\\')
			b.WriteByte(name[i])
		}
	}
	return b.String()
}
