package procfs

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Stat contains the fields of /proc/PID/stat that zombietrace uses. The
// field numbers in the comments are those of proc(5), counting from 1.
type Stat struct {
	PID     int    // field 1
	Comm    string // field 2 without the parentheses, as raw bytes that may be invalid UTF-8
	State   byte   // field 3, for example 'R', 'S', 'D', 'Z'
	PPID    int    // field 4
	PGRP    int    // field 5, process group ID
	Session int    // field 6, session ID
	Flags   uint32 // field 9, the kernel's PF_* flags of the task

	NumThreads int    // field 20
	StartTicks uint64 // field 22, start time in clock ticks (USER_HZ) since boot
}

// Fields of /proc/PID/stat after the comm, counting from field 3 (state).
// statMinFields is the number needed to reach field 22.
const (
	statFieldState      = 3
	statFieldPPID       = 4
	statFieldPGRP       = 5
	statFieldSession    = 6
	statFieldFlags      = 9
	statFieldNumThreads = 20
	statFieldStartTime  = 22
	statMinFields       = statFieldStartTime - statFieldState + 1
)

// ReadStat reads and parses /proc/PID/stat under root. The error wraps
// ErrNoProcess if the process does not exist.
func ReadStat(root string, pid int) (Stat, error) {
	data, err := readPIDFile(root, pid, "stat")
	if err != nil {
		return Stat{}, err
	}
	stat, err := ParseStat(data)
	if err != nil {
		return Stat{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	return stat, nil
}

// ParseStat parses the contents of a /proc/PID/stat file.
//
// The comm is taken from between the first '(' and the last ')', because the
// kernel prints it unescaped and it may itself contain spaces, parentheses
// and newlines.
func ParseStat(data []byte) (Stat, error) {
	open := bytes.IndexByte(data, '(')
	closing := bytes.LastIndexByte(data, ')')
	if open < 0 || closing < open {
		return Stat{}, fmt.Errorf("parse stat: missing parenthesized comm in %q", truncate(data))
	}

	var stat Stat
	pid, err := strconv.Atoi(strings.TrimSuffix(string(data[:open]), " "))
	if err != nil {
		return Stat{}, fmt.Errorf("parse stat: invalid pid: %w", err)
	}
	stat.PID = pid
	stat.Comm = string(data[open+1 : closing])

	fields := strings.Fields(string(data[closing+1:]))
	if len(fields) < statMinFields {
		return Stat{}, fmt.Errorf("parse stat: got %d fields after comm, need at least %d",
			len(fields), statMinFields)
	}
	if err := stat.parseFields(fields); err != nil {
		return Stat{}, fmt.Errorf("parse stat: %w", err)
	}
	return stat, nil
}

// parseFields fills the fields that follow the comm. fields[0] is field 3.
func (s *Stat) parseFields(fields []string) error {
	field := func(n int) string { return fields[n-statFieldState] }

	state := field(statFieldState)
	if len(state) != 1 {
		return fmt.Errorf("invalid state %q", state)
	}
	s.State = state[0]

	ints := []struct {
		n   int
		dst *int
	}{
		{statFieldPPID, &s.PPID},
		{statFieldPGRP, &s.PGRP},
		{statFieldSession, &s.Session},
		{statFieldNumThreads, &s.NumThreads},
	}
	for _, f := range ints {
		v, err := strconv.Atoi(field(f.n))
		if err != nil {
			return fmt.Errorf("field %d: %w", f.n, err)
		}
		*f.dst = v
	}

	flags, err := strconv.ParseUint(field(statFieldFlags), 10, 32)
	if err != nil {
		return fmt.Errorf("field %d (flags): %w", statFieldFlags, err)
	}
	s.Flags = uint32(flags)

	s.StartTicks, err = strconv.ParseUint(field(statFieldStartTime), 10, 64)
	if err != nil {
		return fmt.Errorf("field %d (starttime): %w", statFieldStartTime, err)
	}
	return nil
}

// truncate shortens data for use in an error message.
func truncate(data []byte) []byte {
	const maxLen = 64
	if len(data) > maxLen {
		return data[:maxLen]
	}
	return data
}
