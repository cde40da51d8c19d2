// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel side of zombietrace: follows each process from fork to free and
 * sends one event per step through the ring buffer.
 *
 * A process becomes a zombie in exit_notify(), called from do_exit() right
 * after the sched_process_exit tracepoint: the task is left in EXIT_ZOMBIE
 * unless do_notify_parent() finds that its parent ignores SIGCHLD, in which
 * case the task is released at once. Either way the SIGCHLD (or the child's
 * exit_signal) that do_notify_parent() sends shows up at signal_generate.
 * A zombie leaves when a wait4() or waitid() in its parent (or its tracer)
 * returns it, and its task_struct is freed an RCU grace period later at
 * sched_process_free. Only tracepoints are used, because kprobes and fentry
 * are missing or refused on some kernels this tool must run on.
 */
#include "headers/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "zombietrace.h"

#define SIGCHLD 17
#define CLD_EXITED 1
#define CLD_DUMPED 3
#define PF_EXITING 0x00000004
#define SIGNAL_GROUP_EXIT 0x00000004

char LICENSE[] SEC("license") = "GPL";

/* Keep every event type in BTF, so that bpf2go emits its Go type. */
const struct header *unused_header __attribute__((unused));
const struct fork_event *unused_fork __attribute__((unused));
const struct exec_event *unused_exec __attribute__((unused));
const struct exit_event *unused_exit __attribute__((unused));
const struct child_signal_event *unused_signal __attribute__((unused));
const struct wait_event *unused_wait __attribute__((unused));
const struct free_event *unused_free __attribute__((unused));
const enum event_kind *unused_kind __attribute__((unused));

/* Set by user space before load. */
const volatile bool trace_waits = true;
/*
 * Read the wait arguments from the saved registers when the call returns
 * (bpf_task_pt_regs, Linux 5.15) instead of saving them at entry. It
 * spares the entry programs and a map update per call, and captures the
 * arguments of a call that began before the probe was attached. With it
 * false, the verifier drops the branch that calls the newer helpers.
 */
const volatile bool args_from_regs = false;
/*
 * Unread bytes in the ring buffer above which a submit wakes the reader.
 * Below it, user space polls on a timer instead, because a wake-up per
 * event (an irq_work and a context switch) cost more than all the rest of
 * the programs under a fork storm. Zero wakes the reader on every event.
 */
const volatile __u64 wakeup_bytes = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22); /* user space sets the size before load */
} events SEC(".maps");

/* Events that could not be reserved in the ring buffer, per CPU and kind. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, EVENT_KIND_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

/* Arguments of a wait4() or waitid() call in progress, by thread ID. */
struct wait_args {
	__u64 enter_ns;
	__s64 id;
	__u64 user_ptr; /* wait4's wstatus or waitid's infop */
	__u32 syscall;
	__u32 idtype;
	__u32 options;
	__u32 _pad;
};

/*
 * A plain hash, which costs less per update than an LRU one. The exit
 * tracepoint runs even for a thread killed inside the call, so entries do
 * not pile up. NOTE: one that stayed behind would be overwritten by the
 * next call of that thread ID.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct wait_args);
} waits SEC(".maps");

static __always_inline void *reserve(__u64 size, __u32 kind)
{
	void *e = bpf_ringbuf_reserve(&events, size, 0);
	__u64 *count;

	if (e)
		return e;
	count = bpf_map_lookup_elem(&lost, &kind);
	if (count)
		*count += 1;
	return NULL;
}

static __always_inline void submit(void *e)
{
	__u64 flags = 0;

	if (wakeup_bytes &&
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) < wakeup_bytes)
		flags = BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

/*
 * tp_btf programs get BTF-typed task pointers, through which plain loads
 * are allowed and far cheaper than bpf_probe_read_kernel, which
 * BPF_CORE_READ calls once per step. The helpers below read that way.
 * Their *_read twins use BPF_CORE_READ for the task that
 * bpf_get_current_task() returns, which is a plain number to the verifier
 * (bpf_get_current_task_btf needs Linux 5.11).
 */
static __always_inline void fill_ref(struct proc_ref *ref,
				     struct task_struct *task)
{
	ref->pid = task->tgid;
	ref->start_ns = task->group_leader->start_boottime;
}

static __always_inline void fill_ref_read(struct proc_ref *ref,
					  struct task_struct *task)
{
	ref->pid = BPF_CORE_READ(task, tgid);
	ref->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
}

static __always_inline void fill_header(struct header *hdr, __u32 kind,
					struct task_struct *task)
{
	hdr->time_ns = bpf_ktime_get_boot_ns();
	hdr->kind = kind;
	fill_ref(&hdr->proc, task);
}

static __always_inline void fill_header_read(struct header *hdr, __u32 kind,
					     struct task_struct *task)
{
	hdr->time_ns = bpf_ktime_get_boot_ns();
	hdr->kind = kind;
	fill_ref_read(&hdr->proc, task);
}

/* The PID array has a variable index, so it is read with probe reads. */
static __always_inline struct upid *upid_at(struct pid *pid, __u32 level)
{
	__u64 offset = bpf_core_field_offset(struct pid, numbers);

	return (void *)pid + offset + level * bpf_core_type_size(struct upid);
}

static __always_inline __u32 pid_at(struct pid *pid, __u32 level)
{
	int nr = 0;

	bpf_probe_read_kernel(&nr, sizeof(nr), &upid_at(pid, level)->nr);
	return nr;
}

static __always_inline __u32 ns_inum_at(struct pid *pid, __u32 level)
{
	struct pid_namespace *ns = NULL;

	bpf_probe_read_kernel(&ns, sizeof(ns), &upid_at(pid, level)->ns);
	return BPF_CORE_READ(ns, ns.inum);
}

static __always_inline void fill_pids(struct pid_chain *chain,
				      struct task_struct *task)
{
	struct pid *pid = task->group_leader->thread_pid;
	__u32 level = pid->level;

	chain->level = level;
	for (__u32 i = 0; i < PID_LEVELS; i++) {
		if (i > level)
			break;
		chain->nr[i] = pid_at(pid, i);
	}
	if (level < PID_LEVELS)
		chain->own_nr = chain->nr[level & (PID_LEVELS - 1)];
	else
		chain->own_nr = pid_at(pid, level);
	chain->ns_inum = ns_inum_at(pid, level);
}

/*
 * Copies a comm through a BTF pointer with two loads, where
 * bpf_probe_read_kernel_str would cost a helper call per event. The
 * kernel keeps comm NUL-terminated, but kernels that set it with strlcpy
 * do not pad it, so bytes after the NUL may be left from an older name.
 * User space cuts at the first NUL.
 */
static __always_inline void copy_comm(char *dst, struct task_struct *task)
{
	__builtin_memcpy(dst, task->comm, COMM_LEN);
}

static __always_inline __u64 cgroup_of(struct task_struct *task)
{
	return task->cgroups->dfl_cgrp->kn->id;
}

static __always_inline __u32 task_state(struct task_struct *task)
{
	struct task_struct___pre514 *old = (void *)task;

	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ(old, state);
}

static __always_inline void fill_parent_state(struct parent_state *s,
					      struct task_struct *parent)
{
	struct sighand_struct *sighand = parent->sighand;
	struct signal_struct *signal = parent->signal;
	struct pid *pid = parent->thread_pid;

	s->sigchld_handler = (__u64)sighand->action[SIGCHLD - 1].sa.sa_handler;
	s->sigchld_flags = sighand->action[SIGCHLD - 1].sa.sa_flags;
	s->sigchld_blocked = (parent->blocked.sig[0] >> (SIGCHLD - 1)) & 1;
	s->task_state = task_state(parent);
	s->task_flags = parent->flags;
	s->signal_flags = signal->flags;
	s->subreaper = BPF_CORE_READ_BITFIELD_PROBED(signal, is_child_subreaper);
	s->pid_level = pid->level;
	s->ns_inum = ns_inum_at(pid, s->pid_level);
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	struct fork_event *e;

	/* A new thread joins a process that is already tracked. */
	if (child->pid != child->tgid)
		return 0;
	e = reserve(sizeof(*e), EVENT_FORK);
	if (!e)
		return 0;
	fill_header(&e->hdr, EVENT_FORK, child);
	fill_ref(&e->parent, child->real_parent);
	fill_ref(&e->creator, parent);
	fill_pids(&e->pids, child);
	e->cgroup_id = cgroup_of(child);
	copy_comm(e->comm, child);
	submit(e);
	return 0;
}

/*
 * The command line is read at exec, from the new program's stack, because a
 * zombie has no memory left and its /proc/PID/cmdline is empty.
 */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *task, pid_t old_pid)
{
	unsigned long start = task->mm->arg_start;
	unsigned long end = task->mm->arg_end;
	unsigned long len = end > start ? end - start : 0;
	struct exec_event *e;

	e = reserve(sizeof(*e), EVENT_EXEC);
	if (!e)
		return 0;
	fill_header(&e->hdr, EVENT_EXEC, task);
	fill_pids(&e->pids, task);
	e->cgroup_id = cgroup_of(task);
	e->old_tid = old_pid;
	e->args_total = len;
	if (len >= ARGS_LEN) {
		bpf_probe_read_user(e->args, ARGS_LEN, (void *)start);
		e->args_len = ARGS_LEN;
	} else {
		len &= ARGS_LEN - 1;
		bpf_probe_read_user(e->args, len, (void *)start);
		e->args_len = len;
	}
	copy_comm(e->comm, task);
	submit(e);
	return 0;
}

static __always_inline __u32 group_exit_code(struct task_struct *task)
{
	struct signal_struct *signal = task->signal;

	if (signal->flags & SIGNAL_GROUP_EXIT)
		return signal->group_exit_code;
	return task->group_leader->exit_code;
}

/*
 * Only two exits can leave a zombie: the group leader's, and the last
 * thread's, after which a leader that exited first can be reaped. Other
 * threads are released at once and are filtered here.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(handle_exit, struct task_struct *task)
{
	bool leader = task->pid == task->tgid;
	bool group_dead = task->signal->live.counter == 0;
	struct task_struct *parent;
	struct exit_event *e;

	if (!leader && !group_dead)
		return 0;
	e = reserve(sizeof(*e), EVENT_EXIT);
	if (!e)
		return 0;
	parent = task->real_parent;
	fill_header(&e->hdr, EVENT_EXIT, task);
	fill_ref(&e->parent, parent);
	fill_ref(&e->tracer, task->parent);
	fill_pids(&e->pids, task);
	fill_parent_state(&e->parent_state, parent);
	e->cgroup_id = cgroup_of(task);
	e->exit_code = group_exit_code(task);
	e->exit_signal = task->group_leader->exit_signal;
	e->flags = (leader ? EXIT_LEADER : 0) |
		   (group_dead ? EXIT_GROUP_DEAD : 0) |
		   (task->group_leader->ptrace ? EXIT_PTRACED : 0);
	e->tid = task->pid;
	copy_comm(e->comm, task->group_leader);
	submit(e);
	return 0;
}

/*
 * do_notify_parent() fills a siginfo with si_code CLD_EXITED, CLD_KILLED or
 * CLD_DUMPED. It runs in the dying child, in the last thread of its group,
 * in a dying parent that hands its dead children to a new reaper, or in a
 * tracer that lets go of a dead tracee. SIGCHLD with those codes also comes
 * from other senders (kill, sigqueue); user space drops what it cannot match.
 */
SEC("tp_btf/signal_generate")
int BPF_PROG(handle_signal, int sig, struct kernel_siginfo *info,
	     struct task_struct *target, int group, int result)
{
	struct task_struct *sender = (void *)bpf_get_current_task();
	struct child_signal_event *e;
	__u32 level;
	int code;

	/* SEND_SIG_NOINFO and SEND_SIG_PRIV are the small values 0 and 1. */
	if ((unsigned long)info < 4096)
		return 0;
	/* The verifier treats info as a number, since it may be SEND_SIG_PRIV. */
	code = BPF_CORE_READ(info, si_code);
	if (code < CLD_EXITED || code > CLD_DUMPED)
		return 0;
	if (sig != SIGCHLD && !(BPF_CORE_READ(sender, flags) & PF_EXITING))
		return 0;
	e = reserve(sizeof(*e), EVENT_CHILD_SIGNAL);
	if (!e)
		return 0;
	fill_header_read(&e->hdr, EVENT_CHILD_SIGNAL, sender);
	fill_ref(&e->target, target);
	fill_parent_state(&e->target_state, target);
	e->sig = sig;
	e->si_code = code;
	e->si_pid = BPF_CORE_READ(info, _sifields._sigchld._pid);
	e->si_status = BPF_CORE_READ(info, _sifields._sigchld._status);
	e->result = result;
	level = e->target_state.pid_level;
	e->self = pid_at(BPF_CORE_READ(sender, group_leader, thread_pid), level) ==
		  (__u32)e->si_pid;
	submit(e);
	return 0;
}

static __always_inline int wait_enter(__u32 syscall, __u32 idtype, __s64 id,
				      __u64 user_ptr, __u32 options)
{
	struct wait_args args = {
		.enter_ns = bpf_ktime_get_boot_ns(),
		.id = id,
		.user_ptr = user_ptr,
		.syscall = syscall,
		.idtype = idtype,
		.options = options,
	};
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	if (!trace_waits)
		return 0;
	bpf_map_update_elem(&waits, &tid, &args, BPF_ANY);
	return 0;
}

/* The start of a waitid() infop, as the 64-bit kernel writes it. */
struct user_siginfo {
	int si_signo;
	int si_errno;
	int si_code;
	int _pad;
	int si_pid;
	unsigned int si_uid;
	int si_status;
};

static __always_inline void read_wait_result(struct wait_event *e,
					     struct wait_args *args)
{
	struct user_siginfo info = {};
	int status = 0;

	if (e->syscall == WAIT_WAIT4) {
		if (e->ret > 0) {
			e->child_pid = e->ret;
			if (args->user_ptr)
				bpf_probe_read_user(&status, sizeof(status),
						    (void *)args->user_ptr);
			e->child_code = status;
		}
		return;
	}
	if (e->ret == 0 && args->user_ptr) {
		bpf_probe_read_user(&info, sizeof(info), (void *)args->user_ptr);
		e->child_pid = info.si_pid;
		e->child_code = info.si_code;
	}
}

static __always_inline void regs_args(struct wait_args *args, __u32 syscall)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (void *)bpf_task_pt_regs(task);

	if (syscall == WAIT_WAIT4) {
		args->id = (int)SYSCALL_ARG0(regs);
		args->user_ptr = SYSCALL_ARG1(regs);
		args->options = SYSCALL_ARG2(regs);
		return;
	}
	args->idtype = SYSCALL_ARG0(regs);
	args->id = (int)SYSCALL_ARG1(regs);
	args->user_ptr = SYSCALL_ARG2(regs);
	args->options = SYSCALL_ARG3(regs);
}

static __always_inline int wait_exit(long ret, __u32 syscall)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct wait_args local = { .syscall = syscall };
	struct task_struct *task;
	struct wait_args *args;
	struct wait_event *e;
	bool known = true;

	if (!trace_waits)
		return 0;
	if (args_from_regs) {
		regs_args(&local, syscall);
		args = &local;
	} else {
		/*
		 * A call that blocked since before the probe was attached has
		 * no saved arguments. It is still reported, because it may be
		 * the one that reaps a zombie.
		 */
		args = bpf_map_lookup_elem(&waits, &tid);
		known = args != NULL;
		if (!known)
			args = &local;
	}
	e = reserve(sizeof(*e), EVENT_WAIT);
	if (!e)
		goto out;
	task = (void *)bpf_get_current_task();
	fill_header_read(&e->hdr, EVENT_WAIT, task);
	e->enter_ns = args->enter_ns;
	e->ret = ret;
	e->id = args->id;
	e->syscall = args->syscall;
	e->idtype = args->idtype;
	e->options = args->options;
	e->child_pid = 0;
	e->child_code = 0;
	e->pid_level = BPF_CORE_READ(task, thread_pid, level);
	e->tid = tid;
	e->args_unknown = !known;
	read_wait_result(e, args);
	submit(e);
out:
	if (!args_from_regs)
		bpf_map_delete_elem(&waits, &tid);
	return 0;
}

/* Syscall tracepoints give the arguments, which sched_process_wait lacks. */
SEC("tracepoint/syscalls/sys_enter_wait4")
int handle_wait4_enter(struct trace_event_raw_sys_enter *ctx)
{
	return wait_enter(WAIT_WAIT4, 0, (int)ctx->args[0], ctx->args[1],
			  ctx->args[2]);
}

SEC("tracepoint/syscalls/sys_exit_wait4")
int handle_wait4_exit(struct trace_event_raw_sys_exit *ctx)
{
	return wait_exit(ctx->ret, WAIT_WAIT4);
}

SEC("tracepoint/syscalls/sys_enter_waitid")
int handle_waitid_enter(struct trace_event_raw_sys_enter *ctx)
{
	return wait_enter(WAIT_WAITID, ctx->args[0], (int)ctx->args[1],
			  ctx->args[2], ctx->args[3]);
}

SEC("tracepoint/syscalls/sys_exit_waitid")
int handle_waitid_exit(struct trace_event_raw_sys_exit *ctx)
{
	return wait_exit(ctx->ret, WAIT_WAITID);
}

SEC("tp_btf/sched_process_free")
int BPF_PROG(handle_free, struct task_struct *task)
{
	struct free_event *e;

	if (task->pid != task->tgid)
		return 0;
	e = reserve(sizeof(*e), EVENT_FREE);
	if (!e)
		return 0;
	fill_header(&e->hdr, EVENT_FREE, task);
	submit(e);
	return 0;
}
