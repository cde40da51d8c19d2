// Package event defines the kernel events that zombietrace's BPF programs
// report, decoded into plain Go values that carry no BPF types.
package event

import "fmt"

// Kind is the type of an event; the values match enum event_kind in
// bpf/zombietrace.h.
type Kind uint32

// Kinds of events, in the order a process meets them.
const (
	KindFork        Kind = 1
	KindExec        Kind = 2
	KindExit        Kind = 3
	KindChildSignal Kind = 4
	KindWait        Kind = 5
	KindFree        Kind = 6
	KindMax         Kind = 7
)

// String returns the kind's lowercase name, as used in logs and metrics.
func (k Kind) String() string {
	switch k {
	case KindFork:
		return "fork"
	case KindExec:
		return "exec"
	case KindExit:
		return "exit"
	case KindChildSignal:
		return "child_signal"
	case KindWait:
		return "wait"
	case KindFree:
		return "free"
	}
	return fmt.Sprintf("kind(%d)", uint32(k))
}

// ticksPerSecond is USER_HZ, the unit of start times in /proc/PID/stat.
// Linux fixes it at 100 on every architecture zombietrace builds for.
const ticksPerSecond = 100

// Key identifies a process across PID reuse: its host PID and the time it
// started, in the clock ticks that /proc/PID/stat reports.
type Key struct {
	PID        uint32
	StartTicks uint64
}

// String formats the key as PID@ticks.
func (k Key) String() string { return fmt.Sprintf("%d@%d", k.PID, k.StartTicks) }

// ProcRef names a process by host PID and start time in boot-clock
// nanoseconds, as the kernel records them.
type ProcRef struct {
	PID     uint32
	StartNs uint64
}

// Key converts the reference to the tick resolution used by /proc, so that
// processes seen by the kernel and by a /proc scan compare equal.
func (r ProcRef) Key() Key {
	return Key{PID: r.PID, StartTicks: r.StartNs / (1e9 / ticksPerSecond)}
}

// PIDChain is a process's PID in each PID namespace, from the host's down
// to its own.
type PIDChain struct {
	// NR holds the PID at levels 0 up to Known-1. It is an array, not a
	// slice, so that decoding an event does not allocate for it.
	NR [4]uint32
	// Known is how many levels NR holds: min(Level+1, 4), or 0 when the
	// PIDs were not read.
	Known uint8
	// Level is the depth of the process's own PID namespace; 0 is the host.
	Level uint32
	// OwnNR is the PID inside the process's own namespace.
	OwnNR uint32
	// NSInode is the inode number of the process's own PID namespace.
	NSInode uint32
}

// At returns the PID at a namespace level, and false when that level was
// not recorded.
func (c PIDChain) At(level uint32) (uint32, bool) {
	if level == c.Level {
		return c.OwnNR, true
	}
	if level < uint32(c.Known) {
		return c.NR[level], true
	}
	return 0, false
}

// ParentState is the kernel's state of a parent when a child dies: how it
// handles SIGCHLD and whether it can run to wait.
type ParentState struct {
	SigchldHandler uint64 // 0: SIG_DFL, 1: SIG_IGN, else a handler address
	SigchldFlags   uint64 // sa_flags of the SIGCHLD action
	SigchldBlocked bool
	TaskState      uint32 // task_struct.__state
	TaskFlags      uint32 // PF_* flags
	SignalFlags    uint32 // SIGNAL_* flags of its signal_struct
	Subreaper      bool   // prctl(PR_SET_CHILD_SUBREAPER) is set
	PIDLevel       uint32 // depth of its PID namespace
	NSInode        uint32 // inode number of its PID namespace
}

// Header is common to every event.
type Header struct {
	// TimeNs is when the event happened, in CLOCK_BOOTTIME nanoseconds.
	TimeNs uint64
	Kind   Kind
	// Proc is the process the event is about: the child for Fork, the
	// sender for ChildSignal, the waiter for Wait.
	Proc ProcRef
}

// Event is any decoded event.
type Event interface {
	EventHeader() Header
}

// EventHeader returns the common header.
func (h Header) EventHeader() Header { return h }
