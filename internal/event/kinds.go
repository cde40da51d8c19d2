package event

// Fork reports a new process (not a new thread).
type Fork struct {
	Header
	Parent   ProcRef // real parent of the child
	Creator  ProcRef // the process that called fork or clone
	PIDs     PIDChain
	CgroupID uint64
	Comm     string
}

// Exec reports a successful execve, with the new command line.
type Exec struct {
	Header
	PIDs     PIDChain
	CgroupID uint64
	OldTID   uint32
	Comm     string
	// Args is the command line split at NUL bytes. It is cut at 512 bytes,
	// in which case Truncated is true.
	Args      []string
	Truncated bool
}

// Flags of an Exit event.
const (
	ExitLeader    = 1 << 0 // the group leader exited
	ExitGroupDead = 1 << 1 // no thread of the process is left
	ExitPtraced   = 1 << 2 // the process is traced
)

// Exit reports the exit of a process's leader or of its last thread.
type Exit struct {
	Header
	Parent      ProcRef // real parent at the time of exit
	Tracer      ProcRef // parent for signals: the tracer when traced
	PIDs        PIDChain
	ParentState ParentState
	CgroupID    uint64
	// ExitCode is the wait status the parent will get: exit status << 8,
	// or the terminating signal with 0x80 set for a core dump.
	ExitCode   uint32
	ExitSignal uint32 // signal sent to the parent, normally SIGCHLD
	Flags      uint32
	TID        uint32
	Comm       string
}

// GroupDead reports whether no thread of the process is left running.
func (e *Exit) GroupDead() bool { return e.Flags&ExitGroupDead != 0 }

// ChildSignal reports a signal about a dead child sent to its parent, by the
// child itself (Self) or by a dying parent handing the child over.
type ChildSignal struct {
	Header
	Target      ProcRef
	TargetState ParentState
	Signal      uint32
	Code        int32 // CLD_EXITED, CLD_KILLED or CLD_DUMPED
	ChildNSPID  int32 // the child in the target's PID namespace
	Status      int32
	// Result is the signal_generate outcome: 0 delivered, 1 ignored,
	// 2 already pending, 3 queue overflow, 4 info lost.
	Result int32
	Self   bool
}

// Wait syscalls.
const (
	SyscallWait4  = 1
	SyscallWaitid = 2
)

// Wait reports a finished wait4 or waitid call.
type Wait struct {
	Header
	EnterNs uint64
	Return  int64
	// ID is wait4's pid argument or waitid's id; IDType is waitid's idtype.
	ID       int64
	Syscall  uint32
	IDType   uint32
	Options  uint32
	ChildPID int32 // child reported, in the waiter's PID namespace
	// ChildCode is waitid's si_code, or wait4's status word.
	ChildCode int32
	PIDLevel  uint32
	TID       uint32
	// ArgsUnknown is set for a call that began before the probe was
	// attached: only Syscall, Return and, for wait4, ChildPID are known.
	ArgsUnknown bool
}

// Free reports that a process's task_struct was freed.
type Free struct {
	Header
}
