// Package report defines the records zombietrace writes about zombies and
// formats them as text lines or JSON Lines. The JSON field names are a
// stable interface, documented in docs/output.md.
package report

import "time"

// Record types.
const (
	// TypeLingering: a zombie stayed unreaped past the minimum age, or was
	// found by the /proc scan at start.
	TypeLingering = "lingering"
	// TypeReaped: a lingering zombie was reaped or released.
	TypeReaped = "reaped"
	// TypeHandedOver: a lingering zombie's parent exited and the kernel
	// handed the zombie to a new parent.
	TypeHandedOver = "handed_over"
)

// Record is one line of output about one zombie.
type Record struct {
	Type string    `json:"type"`
	Time time.Time `json:"time"`
	// Zombie is the dead process.
	Zombie Process `json:"zombie"`
	// DiedAt is when it exited; nil for a zombie found at start.
	DiedAt *time.Time `json:"died_at,omitempty"`
	// AgeSeconds is the time since death, or for a zombie found at start
	// the time since zombietrace started, a lower bound.
	AgeSeconds float64     `json:"age_seconds"`
	Exit       *ExitStatus `json:"exit,omitempty"`
	// Parent is the process that holds the zombie now.
	Parent *Process `json:"parent,omitempty"`
	// OriginalParent is the zombie's parent when it was created, set when
	// it differs from Parent.
	OriginalParent *Process `json:"original_parent,omitempty"`
	// Creator is the process that called fork, set when it differs from
	// the original parent (clone with CLONE_PARENT, or a thread).
	Creator *Process `json:"creator,omitempty"`
	// Lineage lists the zombie's creators, nearest first, up to eight.
	Lineage []Ancestor `json:"lineage,omitempty"`
	// Origin is the way the line was started, when an ancestor shows it.
	Origin *Origin `json:"origin,omitempty"`
	// Handovers lists each change of parent, oldest first.
	Handovers []Handover `json:"handovers,omitempty"`
	SIGCHLD   *SIGCHLD   `json:"sigchld,omitempty"`
	Waits     *Waits     `json:"waits,omitempty"`
	// ReapedBy is the process whose wait call reaped the zombie, on
	// reaped records; nil when it was released without a wait seen.
	ReapedBy *Process `json:"reaped_by,omitempty"`
	// ReapNote explains how a zombie left when no wait reaped it.
	ReapNote     string `json:"reap_note,omitempty"`
	Cgroup       string `json:"cgroup,omitempty"`
	CgroupID     uint64 `json:"cgroup_id,omitempty"`
	FoundAtStart bool   `json:"found_at_start,omitempty"`
	// Recovered is set for a zombie found by the /proc scan that follows
	// lost events: its death was not seen, and its age is a lower bound.
	Recovered bool `json:"recovered,omitempty"`
	// Tracer is the ptrace tracer that the dead process reports to first,
	// when it was traced at its death.
	Tracer *Process `json:"tracer,omitempty"`
	// ThreadsAlive is set for a thread-group leader that exited while
	// other threads of its process still run.
	ThreadsAlive bool `json:"threads_alive,omitempty"`
	// Container identifies the container the zombie ran in, if any.
	Container *Container `json:"container,omitempty"`
	// Diagnosis is the reason the zombie is not reaped, and its fix.
	Diagnosis *Diagnosis `json:"diagnosis,omitempty"`
	// Action is set on records of type "action".
	Action *Action `json:"action,omitempty"`
}

// Process describes a process as zombietrace last knew it.
type Process struct {
	// PID in zombietrace's own PID namespace.
	PID uint32 `json:"pid"`
	// NSPID is the PID inside the process's own PID namespace.
	NSPID uint32 `json:"ns_pid"`
	// PIDNamespace is the inode number of that namespace.
	PIDNamespace uint32    `json:"pid_ns,omitempty"`
	StartTime    time.Time `json:"start_time"`
	Comm         string    `json:"comm"`
	Cmdline      []string  `json:"cmdline,omitempty"`
	// CmdlineTruncated is set when the command line was longer than the
	// 512 bytes the kernel side copies.
	CmdlineTruncated bool `json:"cmdline_truncated,omitempty"`
	// NSInit is set when the process is PID 1 of its PID namespace.
	NSInit bool `json:"ns_init,omitempty"`
	// Subreaper is set when it called prctl(PR_SET_CHILD_SUBREAPER).
	Subreaper bool `json:"subreaper,omitempty"`
	// Exited is set when the process itself has exited.
	Exited bool `json:"exited,omitempty"`
}

// ExitStatus is the zombie's cause of death, decoded from its wait status.
type ExitStatus struct {
	// Code is the exit status; nil when a signal killed the process.
	Code *int `json:"code,omitempty"`
	// Signal is the terminating signal's name, like "SIGKILL".
	Signal     string `json:"signal,omitempty"`
	CoreDumped bool   `json:"core_dumped,omitempty"`
}

// Handover is one change of a zombie's (or its ancestor's) parent.
type Handover struct {
	// Time is when it happened; nil when only the result was seen.
	Time *time.Time `json:"time,omitempty"`
	From Process    `json:"from"`
	To   Process    `json:"to"`
	// Dead is set when the process was already a zombie when handed over.
	Dead bool `json:"dead"`
}

// SIGCHLD is the parent's handling of the signal that announces a death.
type SIGCHLD struct {
	// Disposition is "default", "ignore" or "handler".
	Disposition string `json:"disposition"`
	// Flags are the sigaction flags that matter here: SA_NOCLDWAIT,
	// SA_NOCLDSTOP, SA_RESTART, SA_SIGINFO.
	Flags   []string `json:"flags,omitempty"`
	Blocked bool     `json:"blocked,omitempty"`
	// Delivery is the fate of the signal sent at death: "delivered",
	// "already_pending" (merged with an earlier one), "ignored", or "none"
	// when the child's exit signal is 0.
	Delivery string `json:"delivery,omitempty"`
}

// Waits summarises the wait calls the parent made since the death.
type Waits struct {
	// Summary is one of the Wait* constants.
	Summary string `json:"summary"`
	// Calls counts the calls seen; Recent lists the last few of them.
	Calls  int        `json:"calls"`
	Recent []WaitCall `json:"recent,omitempty"`
	// History counts all the parent's wait calls that zombietrace saw,
	// before the death too: a program that waits only for the children it
	// started shows no call for any child here.
	History *WaitHistory `json:"history,omitempty"`
}

// WaitHistory counts a parent's wait calls since zombietrace first saw one.
type WaitHistory struct {
	Calls int `json:"calls"`
	// AnyChild counts calls that could reap any child: pid -1, a process
	// group, or P_ALL.
	AnyChild int `json:"any_child"`
	// SpecificPIDs counts calls for one child: a PID or a pidfd.
	SpecificPIDs int       `json:"specific_pids"`
	Since        time.Time `json:"since"`
}

// Wait summaries.
const (
	WaitNone        = "none"
	WaitOtherPIDs   = "only_other_pids"
	WaitNothingDone = "nohang_nothing_reaped"
	WaitOther       = "other"
)

// WaitCall is one wait4 or waitid call.
type WaitCall struct {
	Time    time.Time `json:"time"`
	Syscall string    `json:"syscall"`
	// Target is "any", "pid N", "pgid N", "pidfd N" or "own pgid".
	Target  string   `json:"target"`
	Options []string `json:"options,omitempty"`
	Return  int64    `json:"return"`
	// Child is the PID that the call returned, in the waiter's namespace.
	Child int32 `json:"child,omitempty"`
}
