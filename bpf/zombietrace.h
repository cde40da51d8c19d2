/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Events sent from the BPF programs to user space through the ring buffer.
 * bpf2go generates the Go types from these structs, so this header is the
 * one definition of the wire format. Every event starts with struct header.
 */
#ifndef __ZOMBIETRACE_H__
#define __ZOMBIETRACE_H__

#define COMM_LEN 16
#define ARGS_LEN 512
/* PID numbers kept per process: the host's (level 0) and three nested levels. */
#define PID_LEVELS 4

enum event_kind {
	EVENT_FORK = 1,
	EVENT_EXEC = 2,
	EVENT_EXIT = 3,
	EVENT_CHILD_SIGNAL = 4,
	EVENT_WAIT = 5,
	EVENT_FREE = 6,
	EVENT_KIND_MAX = 7,
};

/* A process, by host thread-group ID and the boot time at which it started. */
struct proc_ref {
	__u32 pid;
	__u32 _pad;
	__u64 start_ns;
};

struct header {
	__u64 time_ns; /* CLOCK_BOOTTIME */
	__u32 kind;
	__u32 _pad;
	struct proc_ref proc;
};

/* PID numbers of a process in each PID namespace from the host down. */
struct pid_chain {
	__u32 nr[PID_LEVELS];
	__u32 level;     /* depth of the process's own PID namespace */
	__u32 own_nr;    /* PID inside its own namespace, at any depth */
	__u32 ns_inum;   /* inode number of its own PID namespace */
	__u32 _pad;
};

/* A parent's handling of a dead child, read from its task_struct. */
struct parent_state {
	__u64 sigchld_handler; /* 0: SIG_DFL, 1: SIG_IGN, else a handler address */
	__u64 sigchld_flags;   /* sa_flags, e.g. SA_NOCLDWAIT, SA_RESTART */
	__u32 task_state;      /* __state: stopped, traced, ... */
	__u32 task_flags;      /* PF_* flags, e.g. PF_EXITING */
	__u32 signal_flags;    /* SIGNAL_* flags, e.g. SIGNAL_STOP_STOPPED */
	__u8 sigchld_blocked;
	__u8 subreaper;
	__u8 _pad[2];
	__u32 pid_level;
	__u32 ns_inum;
};

struct fork_event {
	struct header hdr;      /* the child */
	struct proc_ref parent; /* real_parent of the child */
	struct proc_ref creator;/* the process that called fork or clone */
	struct pid_chain pids;
	__u64 cgroup_id;
	char comm[COMM_LEN];
};

struct exec_event {
	struct header hdr;
	struct pid_chain pids;
	__u64 cgroup_id;
	__u32 old_tid;
	__u32 args_len;   /* bytes of args filled */
	__u32 args_total; /* length of the whole command line */
	__u32 _pad;
	char comm[COMM_LEN];
	char args[ARGS_LEN];
};

enum exit_flag {
	EXIT_LEADER = 1 << 0,     /* the exiting thread is the group leader */
	EXIT_GROUP_DEAD = 1 << 1, /* no thread of the group is left running */
	EXIT_PTRACED = 1 << 2,    /* traced: notifies its tracer first */
};

struct exit_event {
	struct header hdr;
	struct proc_ref parent; /* real_parent */
	struct proc_ref tracer; /* parent, which differs while ptraced */
	struct pid_chain pids;
	struct parent_state parent_state;
	__u64 cgroup_id;
	__u32 exit_code;
	__u32 exit_signal;
	__u32 flags;
	__u32 tid;
	char comm[COMM_LEN];
};

/*
 * A signal about a child's exit: do_notify_parent() sent it to the child's
 * parent, either as the child died or when a dead child was handed to a new
 * parent.
 */
struct child_signal_event {
	struct header hdr;      /* the sender (current) */
	struct proc_ref target; /* the parent that receives it */
	struct parent_state target_state;
	__u32 sig;
	__s32 si_code;
	__s32 si_pid;  /* the child, in the target's PID namespace */
	__s32 si_status;
	__s32 result;  /* TRACE_SIGNAL_* of the signal_generate tracepoint */
	__u32 self;    /* 1 when the child is the sender itself */
};

enum wait_syscall {
	WAIT_WAIT4 = 1,
	WAIT_WAITID = 2,
};

struct wait_event {
	struct header hdr; /* the waiter */
	__u64 enter_ns;    /* 0 when the arguments were read at return */
	__s64 ret;
	__s64 id;      /* wait4's pid argument, or waitid's id */
	__u32 syscall; /* enum wait_syscall */
	__u32 idtype;  /* waitid's idtype; 0 for wait4 */
	__u32 options;
	__s32 child_pid;   /* reaped or reported child, in the waiter's namespace */
	__s32 child_code;  /* waitid: si_code; wait4: the wait status */
	__u32 pid_level;   /* level of the waiter's PID namespace */
	__u32 tid;
	__u32 args_unknown; /* 1: the call began before the probe was attached */
};

struct free_event {
	struct header hdr;
};

#endif /* __ZOMBIETRACE_H__ */
