package procfs

import (
	"errors"
	"io/fs"
	"testing"
)

// fixtureRoot is a copy of files from a real /proc. The processes are a
// sleep (3668), a zombie whose comm was set to contain spaces, parentheses
// and invalid UTF-8 (3616), kthreadd (2) and a process whose comm contains
// a tab, a backslash, a newline, parentheses and invalid UTF-8 (3799).
const fixtureRoot = "testdata/proc"

func TestReadStatFixtures(t *testing.T) {
	tests := []struct {
		pid  int
		want Stat
	}{
		{3668, Stat{PID: 3668, Comm: "sleep", State: 'S', PPID: 3665, PGRP: 3665,
			Session: 2080, Flags: 4194304, NumThreads: 1, StartTicks: 30967}},
		{3616, Stat{PID: 3616, Comm: "a b) (c\xff\xfe) z", State: 'Z', PPID: 3614, PGRP: 3611,
			Session: 2080, Flags: 4227084, NumThreads: 1, StartTicks: 30166}},
		{2, Stat{PID: 2, Comm: "kthreadd", State: 'S', PPID: 0, PGRP: 0,
			Session: 0, Flags: 2129984, NumThreads: 1, StartTicks: 9}},
		{3799, Stat{PID: 3799, Comm: "t\tb\\s\nl) (q\xff", State: 'S', PPID: 3796, PGRP: 3796,
			Session: 2080, Flags: 4194304, NumThreads: 1, StartTicks: 32861}},
	}
	for _, tt := range tests {
		got, err := ReadStat(fixtureRoot, tt.pid)
		if err != nil {
			t.Errorf("ReadStat(%d): %v", tt.pid, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ReadStat(%d) = %+v, want %+v", tt.pid, got, tt.want)
		}
	}
}

func TestParseStatKernelThreadFlag(t *testing.T) {
	const pfKthread = 0x00200000 // PF_KTHREAD in include/linux/sched.h
	stat, err := ReadStat(fixtureRoot, 2)
	if err != nil {
		t.Fatal(err)
	}
	if stat.Flags&pfKthread == 0 {
		t.Errorf("kthreadd flags %#x lack PF_KTHREAD", stat.Flags)
	}
}

func TestParseStatInvalid(t *testing.T) {
	const tail = " S 1 1 1 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 100"
	tests := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"no parentheses", "12 sleep" + tail},
		{"closing before opening", "12 )sleep(" + tail},
		{"pid not a number", "x (sleep)" + tail},
		{"too few fields", "12 (sleep) S 1 1 1 0 -1 4194304"},
		{"state longer than one byte", "12 (sleep) SS 1 1 1 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 100"},
		{"ppid not a number", "12 (sleep) S x 1 1 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 100"},
		{"flags negative", "12 (sleep) S 1 1 1 0 -1 -4 0 0 0 0 0 0 0 0 20 0 1 0 100"},
		{"flags above 32 bits", "12 (sleep) S 1 1 1 0 -1 4294967296 0 0 0 0 0 0 0 0 20 0 1 0 100"},
		{"starttime negative", "12 (sleep) S 1 1 1 0 -1 4194304 0 0 0 0 0 0 0 0 20 0 1 0 -100"},
	}
	for _, tt := range tests {
		if _, err := ParseStat([]byte(tt.data)); err == nil {
			t.Errorf("%s: ParseStat(%q) succeeded, want error", tt.name, tt.data)
		}
	}
}

func TestParseStatEmptyComm(t *testing.T) {
	stat, err := ParseStat([]byte("12 () R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100\n"))
	if err != nil {
		t.Fatal(err)
	}
	if stat.Comm != "" {
		t.Errorf("Comm = %q, want empty", stat.Comm)
	}
	if stat.StartTicks != 100 {
		t.Errorf("StartTicks = %d, want 100", stat.StartTicks)
	}
}

func TestReadStatMissingProcess(t *testing.T) {
	_, err := ReadStat(fixtureRoot, 99999)
	if !errors.Is(err, ErrNoProcess) {
		t.Errorf("error %v does not wrap ErrNoProcess", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
}
