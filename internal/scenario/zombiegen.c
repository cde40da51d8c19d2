//go:build ignore

// The build constraint above keeps the go command from treating this file as
// cgo source. Package scenario embeds it and compiles it with cc.

// zombiegen creates real zombie processes (and the look-alike situations that
// leave none) for zombietrace's tests.
//
// Usage: zombiegen MODE [--count N] [--exit-code N] [--delay-ms N] [--wait-go]
//                       [-- ARG...]
//
// Once the situation exists, zombiegen prints one line
// "ready key=value ..." on stdout. It then keeps the situation until it
// receives SIGTERM or its stdin reaches EOF, removes every process it created
// and exits 0. Keep stdin open while the situation is needed.
//
// The process started by the caller is a guard: it becomes a child subreaper,
// forks the scenario process into a new process group and reaps everything
// that is orphaned below it, so that nothing reaches the machine's PID 1. The
// guard forwards SIGTERM to the scenario process and SIGKILLs the scenario's
// process group if cleanup takes longer than GUARD_TIMEOUT_S seconds. It exits
// with the scenario's status, or 3 if processes survived the cleanup.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 64
#define AWAIT_TIMEOUT_MS 10000
#define GUARD_TIMEOUT_S 5
#define POLL_INTERVAL_MS 100

struct options {
	const char *mode;
	int count;
	int exit_code;
	int delay_ms;
	bool wait_go;
	char **exec_args; // arguments after "--", for nowait-exec
	int exec_argc;
};

// True in the scenario process and its descendants, where die() may kill the
// whole scenario process group. False in the guard.
static bool in_scenario;

static volatile sig_atomic_t term_received;
static int term_pipe[2] = {-1, -1};

static void die(const char *format, ...)
{
	int saved_errno = errno;
	va_list args;

	dprintf(STDERR_FILENO, "zombiegen[%d]: ", getpid());
	va_start(args, format);
	vdprintf(STDERR_FILENO, format, args);
	va_end(args);
	if (saved_errno != 0)
		dprintf(STDERR_FILENO, ": %s", strerror(saved_errno));
	dprintf(STDERR_FILENO, "\n");
	// Kill every process of the scenario, this one included. The guard
	// reaps them and reports the failure through its exit status.
	if (in_scenario)
		kill(0, SIGKILL);
	_exit(1);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: zombiegen MODE [--count N] [--exit-code N] [--delay-ms N] [--wait-go]\n"
		"                      [-- ARG...]\n"
		"\n"
		"Creates a real zombie situation, prints one line \"ready key=value ...\" and\n"
		"holds the situation until SIGTERM or EOF on stdin, then cleans up and exits 0.\n"
		"\n"
		"Modes:\n"
		"  nowait                the parent forks children that exit and never waits\n"
		"  reap                  the parent reaps its children with waitpid(pid)\n"
		"  sigign                SIGCHLD is SIG_IGN, so the kernel reaps the children\n"
		"  nocldwait             SA_NOCLDWAIT with a handler, so the kernel reaps them\n"
		"  doublefork-subreaper  a subreaper adopts grandchildren and never waits\n"
		"  nsinit-waitspecific   a PID-namespace init waits only for specific PIDs\n"
		"  handler-coalesce      a SIGCHLD handler reaps one child per signal\n"
		"  stopped               the parent of the zombies is stopped (SIGSTOP)\n"
		"  thread-leader         the main thread exits while another thread runs\n"
		"  traced                the zombie is ptrace-attached by a process that never waits\n"
		"  nowait-exec           like nowait, but the children exec /bin/sh -c 'exit N' ARG...\n"
		"\n"
		"Options:\n"
		"  --count N       number of zombies (children) to create, 1..%d (default 1,\n"
		"                  4 for handler-coalesce)\n"
		"  --exit-code N   exit status of each zombie, 0..255 (default 0)\n"
		"  --delay-ms N    sleep N milliseconds after the parent is set up and before\n"
		"                  the first child is forked\n"
		"  --wait-go       read the line \"go\" from stdin at the same point\n"
		"  -- ARG...       extra arguments of the /bin/sh command line (nowait-exec)\n",
		MAX_CHILDREN);
}

static int parse_int(const char *name, const char *text, int min, int max)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);
	if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
		fprintf(stderr, "zombiegen: invalid %s %s: want an integer in %d..%d\n", name,
			text, min, max);
		exit(2);
	}
	return (int)value;
}

static void parse_options(int argc, char **argv, struct options *opts)
{
	bool count_set = false;

	memset(opts, 0, sizeof(*opts));
	if (argc < 2) {
		usage(stderr);
		exit(2);
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(stdout);
		exit(0);
	}
	opts->mode = argv[1];
	opts->count = 1;
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i];
		bool has_value = i + 1 < argc;

		if (strcmp(arg, "--") == 0) {
			opts->exec_args = &argv[i + 1];
			opts->exec_argc = argc - i - 1;
			break;
		} else if (strcmp(arg, "--wait-go") == 0) {
			opts->wait_go = true;
		} else if (strcmp(arg, "--count") == 0 && has_value) {
			opts->count = parse_int("--count", argv[++i], 1, MAX_CHILDREN);
			count_set = true;
		} else if (strcmp(arg, "--exit-code") == 0 && has_value) {
			opts->exit_code = parse_int("--exit-code", argv[++i], 0, 255);
		} else if (strcmp(arg, "--delay-ms") == 0 && has_value) {
			opts->delay_ms = parse_int("--delay-ms", argv[++i], 0, 3600000);
		} else {
			fprintf(stderr, "zombiegen: invalid or incomplete option %s\n", arg);
			usage(stderr);
			exit(2);
		}
	}
	if (!count_set && strcmp(opts->mode, "handler-coalesce") == 0)
		opts->count = 4;
	if (opts->exec_args != NULL && strcmp(opts->mode, "nowait-exec") != 0) {
		fprintf(stderr, "zombiegen: arguments after -- are only valid for nowait-exec\n");
		exit(2);
	}
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void make_pipe(int fds[2])
{
	if (pipe2(fds, O_CLOEXEC) != 0)
		die("pipe2");
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

// Blocks until every write end of the pipe is closed.
static void await_eof(int fd)
{
	char byte;

	for (;;) {
		ssize_t n = read(fd, &byte, 1);

		if (n == 0)
			return;
		if (n < 0 && errno != EINTR)
			die("read release pipe");
	}
}

// Reads one line without buffering past it. Returns false at EOF.
static bool read_line(int fd, char *line, size_t size)
{
	size_t len = 0;

	for (;;) {
		char byte;
		ssize_t n = read(fd, &byte, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read pipe");
		if (n == 0 && len == 0)
			return false;
		if (n == 0 || byte == '\n')
			break;
		if (len + 1 < size)
			line[len++] = byte;
	}
	line[len] = '\0';
	return true;
}

// Returns the state letter of /proc/PID/stat, or 0 if the process is gone.
static char proc_state(pid_t pid)
{
	char path[64];
	char buf[1024];
	ssize_t n;
	int fd;
	char *paren;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	// The command name may contain spaces and parentheses, so the state
	// follows the last ')'.
	paren = strrchr(buf, ')');
	if (paren == NULL || paren[1] != ' ')
		return '?';
	return paren[2];
}

// Polls /proc until the process is in one of the given states. Polling keeps
// the scenario free of wait calls that a tracer would see.
static void await_state(pid_t pid, const char *states)
{
	long deadline = now_ms() + AWAIT_TIMEOUT_MS;

	for (;;) {
		char state = proc_state(pid);

		if (state != 0 && strchr(states, state) != NULL)
			return;
		if (now_ms() > deadline) {
			errno = 0;
			die("pid %d did not reach state %s within %d ms (state %c)", pid, states,
			    AWAIT_TIMEOUT_MS, state ? state : '-');
		}
		sleep_ms(1);
	}
}

// Polls /proc until the process no longer exists (the kernel reaped it).
static void await_gone(pid_t pid)
{
	long deadline = now_ms() + AWAIT_TIMEOUT_MS;

	while (proc_state(pid) != 0) {
		if (now_ms() > deadline) {
			errno = 0;
			die("pid %d still exists after %d ms", pid, AWAIT_TIMEOUT_MS);
		}
		sleep_ms(1);
	}
}

// Reaps every child until none is left. Children that are still running must
// be on their way out, or this blocks.
static void reap_all(void)
{
	for (;;) {
		if (waitpid(-1, NULL, __WALL) >= 0)
			continue;
		if (errno == EINTR)
			continue;
		if (errno == ECHILD)
			return;
		die("waitpid(-1)");
	}
}

static pid_t fork_or_die(void)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	return pid;
}

static void on_term(int sig)
{
	int saved_errno = errno;

	(void)sig;
	term_received = 1;
	if (write(term_pipe[1], "t", 1) < 0) {
		// The pipe is full, so a wake-up is already pending.
	}
	errno = saved_errno;
}

// Waits until stdin or the SIGTERM pipe is readable. Returns false on SIGTERM.
static bool poll_stdin(void)
{
	struct pollfd fds[2] = {
		{.fd = STDIN_FILENO, .events = POLLIN},
		{.fd = term_pipe[0], .events = POLLIN},
	};

	for (;;) {
		if (term_received)
			return false;
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll");
		}
		if (fds[1].revents != 0)
			return false;
		if (fds[0].revents != 0)
			return true;
	}
}

// Blocks until the line "go" arrives on stdin. Returns false on SIGTERM or
// EOF, which cancel the scenario.
static bool wait_for_go(void)
{
	char line[64];
	size_t len = 0;

	while (poll_stdin()) {
		char byte;
		ssize_t n = read(STDIN_FILENO, &byte, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		if (byte != '\n') {
			if (len + 1 < sizeof(line))
				line[len++] = byte;
			continue;
		}
		line[len] = '\0';
		if (strcmp(line, "go") == 0)
			return true;
		fprintf(stderr, "zombiegen: ignoring stdin line %s: expected go\n", line);
		len = 0;
	}
	return false;
}

// Runs between the parent's set-up and the birth of the first child, so that
// a tracer can attach first. Exits 0 when cancelled, before any child exists.
static void gate(const struct options *opts)
{
	if (opts->wait_go && !wait_for_go())
		exit(0);
	if (opts->delay_ms > 0) {
		long deadline = now_ms() + opts->delay_ms;

		while (!term_received && now_ms() < deadline)
			sleep_ms(10);
		if (term_received)
			exit(0);
	}
}

// Holds the situation until SIGTERM or EOF on stdin.
static void hold(void)
{
	char buf[256];

	while (poll_stdin()) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno != EINTR))
			return;
	}
}

// The ready line, built with ready_add and printed by ready_print.
static char ready_line[8192];

static void ready_add(const char *format, ...)
{
	size_t len = strlen(ready_line);
	va_list args;

	va_start(args, format);
	vsnprintf(ready_line + len, sizeof(ready_line) - len, format, args);
	va_end(args);
}

static void ready_add_pids(const char *key, const pid_t *pids, int count)
{
	ready_add(" %s=", key);
	for (int i = 0; i < count; i++)
		ready_add(i == 0 ? "%d" : ",%d", pids[i]);
}

static void ready_print(const char *mode)
{
	printf("ready mode=%s%s\n", mode, ready_line);
	if (fflush(stdout) != 0)
		die("write ready line");
}

// Forks a child that waits for EOF on release[0] (unless release is NULL) and
// then exits with exit_code.
static pid_t fork_exiting_child(int release[2], int exit_code)
{
	pid_t pid = fork_or_die();

	if (pid == 0) {
		if (release != NULL) {
			close_fd(&release[1]);
			await_eof(release[0]);
		}
		_exit(exit_code);
	}
	return pid;
}

static int run_nowait(const struct options *opts)
{
	pid_t zombies[MAX_CHILDREN];

	gate(opts);
	for (int i = 0; i < opts->count; i++)
		zombies[i] = fork_exiting_child(NULL, opts->exit_code);
	for (int i = 0; i < opts->count; i++)
		await_state(zombies[i], "Z");
	ready_add(" parent=%d", getpid());
	ready_add_pids("zombies", zombies, opts->count);
	ready_print(opts->mode);
	hold();
	reap_all();
	return 0;
}

static int run_reap(const struct options *opts)
{
	pid_t children[MAX_CHILDREN];
	int status = 0;

	gate(opts);
	for (int i = 0; i < opts->count; i++) {
		children[i] = fork_exiting_child(NULL, opts->exit_code);
		while (waitpid(children[i], &status, 0) < 0) {
			if (errno != EINTR)
				die("waitpid(%d)", children[i]);
		}
	}
	ready_add(" parent=%d", getpid());
	ready_add_pids("zombies", children, opts->count);
	ready_add(" exit_status=%d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	ready_print(opts->mode);
	hold();
	return 0;
}

static volatile sig_atomic_t sigchld_count;

static void count_sigchld(int sig)
{
	(void)sig;
	sigchld_count++;
}

// Runs the sigign and nocldwait modes, in which the kernel reaps each child
// as it exits.
static int run_autoreap(const struct options *opts, bool nocldwait)
{
	pid_t children[MAX_CHILDREN];
	struct sigaction action = {0};

	if (nocldwait) {
		action.sa_handler = count_sigchld;
		action.sa_flags = SA_NOCLDWAIT | SA_RESTART;
	} else {
		action.sa_handler = SIG_IGN;
	}
	sigemptyset(&action.sa_mask);
	if (sigaction(SIGCHLD, &action, NULL) != 0)
		die("sigaction(SIGCHLD)");
	gate(opts);
	for (int i = 0; i < opts->count; i++)
		children[i] = fork_exiting_child(NULL, opts->exit_code);
	for (int i = 0; i < opts->count; i++)
		await_gone(children[i]);
	ready_add(" parent=%d", getpid());
	ready_add_pids("zombies", children, opts->count);
	ready_print(opts->mode);
	hold();
	return 0;
}

static int run_doublefork_subreaper(const struct options *opts)
{
	int release[2];
	int report[2];
	pid_t middle;
	pid_t zombies[MAX_CHILDREN];
	char line[64];

	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		die("prctl(PR_SET_CHILD_SUBREAPER)");
	gate(opts);
	make_pipe(release);
	make_pipe(report);
	middle = fork_or_die();
	if (middle == 0) {
		close_fd(&report[0]);
		for (int i = 0; i < opts->count; i++) {
			pid_t grandchild = fork_or_die();

			if (grandchild == 0) {
				close_fd(&report[1]);
				close_fd(&release[1]);
				await_eof(release[0]);
				_exit(opts->exit_code);
			}
			dprintf(report[1], "%d\n", grandchild);
		}
		_exit(0);
	}
	close_fd(&report[1]);
	for (int i = 0; i < opts->count; i++) {
		if (!read_line(report[0], line, sizeof(line))) {
			errno = 0;
			die("middle child %d reported %d of %d grandchildren", middle, i,
			    opts->count);
		}
		zombies[i] = atoi(line);
	}
	close_fd(&report[0]);
	while (waitpid(middle, NULL, 0) < 0) {
		if (errno != EINTR)
			die("waitpid(%d)", middle);
	}
	// The middle child is gone, so the kernel has handed the grandchildren
	// to this subreaper. Let them exit now.
	close_fd(&release[1]);
	for (int i = 0; i < opts->count; i++)
		await_state(zombies[i], "Z");
	close_fd(&release[0]);
	ready_add(" parent=%d creator=%d", getpid(), middle);
	ready_add_pids("zombies", zombies, opts->count);
	ready_print(opts->mode);
	hold();
	reap_all();
	return 0;
}

// Returns this process's PID in the PID namespace of the mounted /proc. The
// scenario never mounts a new /proc, so this is the host PID even inside a
// new PID namespace, where getpid() returns the namespace PID.
static pid_t proc_mount_pid(void)
{
	char buf[32];
	ssize_t n = readlink("/proc/self", buf, sizeof(buf) - 1);

	if (n <= 0)
		die("readlink /proc/self");
	buf[n] = '\0';
	return atoi(buf);
}

// Runs as PID 1 of a new PID namespace that, like a program using Python's
// subprocess.run, waits only for the specific PIDs it started. It sends
// "ROLE HOST_PID NS_PID" lines to report_fd and never returns.
static void run_ns_init(const struct options *opts, int report_fd)
{
	int release[2];
	pid_t worker;
	pid_t polled;

	make_pipe(release);
	worker = fork_or_die();
	if (worker == 0) {
		for (int i = 0; i < opts->count; i++) {
			pid_t grandchild = fork_or_die();

			if (grandchild == 0) {
				close_fd(&release[1]);
				dprintf(report_fd, "zombie %d %d\n", proc_mount_pid(), getpid());
				close(report_fd);
				await_eof(release[0]);
				_exit(opts->exit_code);
			}
		}
		dprintf(report_fd, "creator %d %d\n", proc_mount_pid(), getpid());
		_exit(0);
	}
	while (waitpid(worker, NULL, 0) < 0) {
		if (errno != EINTR)
			die("waitpid(%d)", worker);
	}
	polled = fork_or_die();
	if (polled == 0) {
		close_fd(&release[1]);
		dprintf(report_fd, "polled %d %d\n", proc_mount_pid(), getpid());
		close(report_fd);
		for (;;)
			pause();
	}
	close(report_fd);
	// The worker is gone and init has adopted the grandchildren. Let them
	// exit, then keep waiting for another specific PID only.
	close_fd(&release[1]);
	close_fd(&release[0]);
	for (;;) {
		if (waitpid(polled, NULL, WNOHANG) < 0 && errno != EINTR)
			die("waitpid(%d, WNOHANG)", polled);
		sleep_ms(POLL_INTERVAL_MS);
	}
}

static int run_nsinit_waitspecific(const struct options *opts)
{
	int report[2];
	pid_t init;
	pid_t creator = 0, ns_creator = 0, polled = 0, ns_polled = 0;
	pid_t zombies[MAX_CHILDREN], ns_zombies[MAX_CHILDREN];
	int zombie_count = 0;
	char line[128];

	gate(opts);
	make_pipe(report);
	if (unshare(CLONE_NEWPID) != 0)
		die("unshare(CLONE_NEWPID)");
	// The first child after unshare becomes PID 1 of the new namespace.
	init = fork_or_die();
	if (init == 0) {
		close_fd(&report[0]);
		run_ns_init(opts, report[1]);
	}
	close_fd(&report[1]);
	while (read_line(report[0], line, sizeof(line))) {
		char role[16];
		int host_pid, ns_pid;

		if (sscanf(line, "%15s %d %d", role, &host_pid, &ns_pid) != 3) {
			errno = 0;
			die("invalid report from namespace init: %s", line);
		}
		if (strcmp(role, "creator") == 0) {
			creator = host_pid;
			ns_creator = ns_pid;
		} else if (strcmp(role, "polled") == 0) {
			polled = host_pid;
			ns_polled = ns_pid;
		} else if (zombie_count < MAX_CHILDREN) {
			zombies[zombie_count] = host_pid;
			ns_zombies[zombie_count] = ns_pid;
			zombie_count++;
		}
	}
	close_fd(&report[0]);
	if (zombie_count != opts->count || creator == 0 || polled == 0) {
		errno = 0;
		die("namespace init reported %d of %d zombies, creator %d, polled %d",
		    zombie_count, opts->count, creator, polled);
	}
	for (int i = 0; i < zombie_count; i++)
		await_state(zombies[i], "Z");
	ready_add(" parent=%d init=%d creator=%d", init, init, creator);
	ready_add_pids("zombies", zombies, zombie_count);
	ready_add(" polled=%d ns_init=1 ns_creator=%d", polled, ns_creator);
	ready_add_pids("ns_zombies", ns_zombies, zombie_count);
	ready_add(" ns_polled=%d", ns_polled);
	ready_print(opts->mode);
	hold();
	// Killing a namespace's init kills everything inside it, and the kernel
	// reaps those processes before the init becomes a zombie.
	kill(init, SIGKILL);
	reap_all();
	return 0;
}

// Reaped PIDs, recorded by the handler of handler-coalesce.
static pid_t coalesce_reaped[MAX_CHILDREN];
static volatile sig_atomic_t coalesce_reaped_count;

// Calls waitpid once per signal, which is the bug: signals that arrive
// while one is pending merge into one, and their children stay zombies.
static void reap_one_per_signal(int sig)
{
	int saved_errno = errno;
	pid_t pid;

	(void)sig;
	sigchld_count++;
	pid = waitpid(-1, NULL, WNOHANG);
	if (pid > 0 && coalesce_reaped_count < MAX_CHILDREN)
		coalesce_reaped[coalesce_reaped_count++] = pid;
	errno = saved_errno;
}

static int run_handler_coalesce(const struct options *opts)
{
	struct sigaction action = {.sa_handler = reap_one_per_signal, .sa_flags = SA_RESTART};
	sigset_t sigchld;
	int release[2];
	pid_t children[MAX_CHILDREN];
	pid_t zombies[MAX_CHILDREN];
	pid_t reaped[MAX_CHILDREN];
	int zombie_count = 0;
	int reaped_count;

	sigemptyset(&action.sa_mask);
	if (sigaction(SIGCHLD, &action, NULL) != 0)
		die("sigaction(SIGCHLD)");
	gate(opts);
	// SIGCHLD stays blocked until every child has exited, so the signals
	// always merge into one and the result does not depend on scheduling.
	sigemptyset(&sigchld);
	sigaddset(&sigchld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &sigchld, NULL);
	make_pipe(release);
	for (int i = 0; i < opts->count; i++)
		children[i] = fork_exiting_child(release, opts->exit_code);
	close_fd(&release[1]);
	for (int i = 0; i < opts->count; i++)
		await_state(children[i], "Z");
	close_fd(&release[0]);
	// The pending SIGCHLD is delivered before sigprocmask returns.
	sigprocmask(SIG_UNBLOCK, &sigchld, NULL);
	sigprocmask(SIG_BLOCK, &sigchld, NULL);
	reaped_count = coalesce_reaped_count;
	memcpy(reaped, coalesce_reaped, sizeof(pid_t) * reaped_count);
	for (int i = 0; i < opts->count; i++) {
		if (proc_state(children[i]) == 'Z')
			zombies[zombie_count++] = children[i];
	}
	ready_add(" parent=%d", getpid());
	ready_add_pids("zombies", zombies, zombie_count);
	ready_add_pids("reaped", reaped, reaped_count);
	ready_add(" signals=%d", (int)sigchld_count);
	ready_print(opts->mode);
	sigprocmask(SIG_UNBLOCK, &sigchld, NULL);
	hold();
	signal(SIGCHLD, SIG_DFL);
	reap_all();
	return 0;
}

static int run_stopped(const struct options *opts)
{
	int report[2];
	pid_t parent;
	pid_t zombies[MAX_CHILDREN];
	char line[64];

	gate(opts);
	make_pipe(report);
	parent = fork_or_die();
	if (parent == 0) {
		close_fd(&report[0]);
		for (int i = 0; i < opts->count; i++) {
			zombies[i] = fork_exiting_child(NULL, opts->exit_code);
			dprintf(report[1], "%d\n", zombies[i]);
		}
		close_fd(&report[1]);
		for (int i = 0; i < opts->count; i++)
			await_state(zombies[i], "Z");
		raise(SIGSTOP);
		// SIGCONT arrives at cleanup: reap the zombies and leave.
		reap_all();
		_exit(0);
	}
	close_fd(&report[1]);
	for (int i = 0; i < opts->count; i++) {
		if (!read_line(report[0], line, sizeof(line))) {
			errno = 0;
			die("parent %d reported %d of %d children", parent, i, opts->count);
		}
		zombies[i] = atoi(line);
	}
	close_fd(&report[0]);
	await_state(parent, "T");
	for (int i = 0; i < opts->count; i++)
		await_state(zombies[i], "Z");
	ready_add(" parent=%d", parent);
	ready_add_pids("zombies", zombies, opts->count);
	ready_print(opts->mode);
	hold();
	kill(parent, SIGCONT);
	reap_all();
	return 0;
}

struct leader_thread_args {
	int report_fd;
	int release_fd;
	int exit_code;
};

static void *run_leader_thread(void *arg)
{
	const struct leader_thread_args *args = arg;

	dprintf(args->report_fd, "%ld\n", (long)syscall(SYS_gettid));
	close(args->report_fd);
	await_eof(args->release_fd);
	// _exit ends the whole thread group, so the process exits with this
	// status and its zombie leader can be reaped.
	_exit(args->exit_code);
}

static int run_thread_leader(const struct options *opts)
{
	int report[2];
	int release[2];
	pid_t leaders[MAX_CHILDREN];
	pid_t threads[MAX_CHILDREN];
	char line[64];

	gate(opts);
	make_pipe(release);
	for (int i = 0; i < opts->count; i++) {
		make_pipe(report);
		leaders[i] = fork_or_die();
		if (leaders[i] == 0) {
			static struct leader_thread_args args;
			pthread_t thread;

			close_fd(&report[0]);
			close_fd(&release[1]);
			args.report_fd = report[1];
			args.release_fd = release[0];
			args.exit_code = opts->exit_code;
			errno = pthread_create(&thread, NULL, run_leader_thread, &args);
			if (errno != 0)
				die("pthread_create");
			pthread_exit(NULL);
		}
		close_fd(&report[1]);
		if (!read_line(report[0], line, sizeof(line))) {
			errno = 0;
			die("process %d did not report its thread", leaders[i]);
		}
		threads[i] = atoi(line);
		close_fd(&report[0]);
	}
	for (int i = 0; i < opts->count; i++)
		await_state(leaders[i], "Z");
	ready_add(" parent=%d", getpid());
	ready_add_pids("zombies", leaders, opts->count);
	ready_add_pids("threads", threads, opts->count);
	ready_add(" threads_alive=1");
	ready_print(opts->mode);
	hold();
	close_fd(&release[1]);
	reap_all();
	return 0;
}

static int run_traced(const struct options *opts)
{
	int release[2];
	int control[2];
	int report[2];
	pid_t zombies[MAX_CHILDREN];
	pid_t tracer;
	char line[64];

	gate(opts);
	make_pipe(release);
	make_pipe(control);
	make_pipe(report);
	for (int i = 0; i < opts->count; i++)
		zombies[i] = fork_exiting_child(release, opts->exit_code);
	tracer = fork_or_die();
	if (tracer == 0) {
		close_fd(&release[1]);
		close_fd(&control[1]);
		close_fd(&report[0]);
		for (int i = 0; i < opts->count; i++) {
			if (ptrace(PTRACE_SEIZE, zombies[i], NULL, NULL) != 0)
				die("ptrace(PTRACE_SEIZE, %d)", zombies[i]);
		}
		dprintf(report[1], "attached\n");
		close_fd(&report[1]);
		// Never wait for the tracees. Exiting detaches them and hands
		// their zombies back to the real parent.
		await_eof(control[0]);
		_exit(0);
	}
	close_fd(&control[0]);
	close_fd(&report[1]);
	if (!read_line(report[0], line, sizeof(line))) {
		errno = 0;
		die("tracer %d failed to attach", tracer);
	}
	close_fd(&report[0]);
	close_fd(&release[1]);
	for (int i = 0; i < opts->count; i++)
		await_state(zombies[i], "Z");
	close_fd(&release[0]);
	ready_add(" parent=%d tracer=%d", getpid(), tracer);
	ready_add_pids("zombies", zombies, opts->count);
	ready_print(opts->mode);
	hold();
	close_fd(&control[1]);
	reap_all();
	return 0;
}

static int run_nowait_exec(const struct options *opts)
{
	static char *const default_args[] = {"zombiegen-nowait-exec"};
	char *const *extra = opts->exec_argc > 0 ? opts->exec_args : default_args;
	int extra_count = opts->exec_argc > 0 ? opts->exec_argc : 1;
	pid_t zombies[MAX_CHILDREN];
	char script[32];
	char **argv;

	snprintf(script, sizeof(script), "exit %d", opts->exit_code);
	argv = calloc(extra_count + 4, sizeof(char *));
	if (argv == NULL)
		die("calloc");
	argv[0] = "/bin/sh";
	argv[1] = "-c";
	argv[2] = script;
	for (int i = 0; i < extra_count; i++)
		argv[3 + i] = extra[i];
	gate(opts);
	for (int i = 0; i < opts->count; i++) {
		zombies[i] = fork_or_die();
		if (zombies[i] == 0) {
			execv(argv[0], argv);
			die("execv %s", argv[0]);
		}
	}
	for (int i = 0; i < opts->count; i++)
		await_state(zombies[i], "Z");
	free(argv);
	ready_add(" parent=%d", getpid());
	ready_add_pids("zombies", zombies, opts->count);
	ready_print(opts->mode);
	hold();
	reap_all();
	return 0;
}

static int run_mode(const struct options *opts)
{
	const char *mode = opts->mode;

	if (strcmp(mode, "nowait") == 0)
		return run_nowait(opts);
	if (strcmp(mode, "reap") == 0)
		return run_reap(opts);
	if (strcmp(mode, "sigign") == 0)
		return run_autoreap(opts, false);
	if (strcmp(mode, "nocldwait") == 0)
		return run_autoreap(opts, true);
	if (strcmp(mode, "doublefork-subreaper") == 0)
		return run_doublefork_subreaper(opts);
	if (strcmp(mode, "nsinit-waitspecific") == 0)
		return run_nsinit_waitspecific(opts);
	if (strcmp(mode, "handler-coalesce") == 0)
		return run_handler_coalesce(opts);
	if (strcmp(mode, "stopped") == 0)
		return run_stopped(opts);
	if (strcmp(mode, "thread-leader") == 0)
		return run_thread_leader(opts);
	if (strcmp(mode, "traced") == 0)
		return run_traced(opts);
	if (strcmp(mode, "nowait-exec") == 0)
		return run_nowait_exec(opts);
	return -1;
}

static bool is_known_mode(const char *mode)
{
	static const char *const modes[] = {
		"nowait",	       "reap",	  "sigign",	     "nocldwait",
		"doublefork-subreaper", "nsinit-waitspecific", "handler-coalesce",
		"stopped",	       "thread-leader",       "traced",	     "nowait-exec",
	};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(mode, modes[i]) == 0)
			return true;
	}
	return false;
}

static volatile sig_atomic_t guard_alarm;

static void on_guard_signal(int sig)
{
	if (sig == SIGALRM)
		guard_alarm = 1;
}

static void install_handler(int sig, void (*handler)(int))
{
	struct sigaction action = {.sa_handler = handler};

	sigemptyset(&action.sa_mask);
	if (sigaction(sig, &action, NULL) != 0)
		die("sigaction(%d)", sig);
}

// Reaps the scenario process and every orphan below it, and forwards SIGTERM.
// SIGTERM, SIGCHLD and SIGALRM are blocked except inside sigsuspend, so no
// signal can arrive between a check and the wait. Returns the exit status of
// zombiegen.
static int guard(pid_t scenario)
{
	sigset_t unblocked;
	bool scenario_done = false;
	bool forwarded = false;
	bool leftovers = false;
	int exit_status = 1;

	sigemptyset(&unblocked);
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG | __WALL);

		if (pid == scenario) {
			scenario_done = true;
			if (WIFEXITED(status))
				exit_status = WEXITSTATUS(status);
			else
				exit_status = 128 + WTERMSIG(status);
			// The scenario removes all its processes before it exits
			// 0. Anything left in its process group is a bug.
			if (kill(-scenario, SIGKILL) == 0) {
				dprintf(STDERR_FILENO,
					"zombiegen: processes of group %d survived the scenario;"
					" killed them\n",
					scenario);
				leftovers = true;
			}
			continue;
		}
		if (pid > 0) {
			dprintf(STDERR_FILENO, "zombiegen: reaped orphan %d of the scenario\n", pid);
			leftovers = true;
			continue;
		}
		if (pid < 0 && errno == ECHILD)
			break;
		if (pid < 0 && errno != EINTR)
			die("waitpid(-1)");
		if (term_received && !forwarded && !scenario_done) {
			kill(scenario, SIGTERM);
			alarm(GUARD_TIMEOUT_S);
			forwarded = true;
		}
		if (guard_alarm) {
			guard_alarm = 0;
			dprintf(STDERR_FILENO,
				"zombiegen: scenario %d did not exit within %d s of SIGTERM;"
				" killing process group %d\n",
				scenario, GUARD_TIMEOUT_S, scenario);
			kill(-scenario, SIGKILL);
		}
		if (pid == 0)
			sigsuspend(&unblocked);
	}
	if (leftovers && exit_status == 0)
		return 3;
	return exit_status;
}

int main(int argc, char **argv)
{
	struct options opts;
	sigset_t guarded;
	pid_t scenario;

	// Block SIGTERM before anything else, so that an early SIGTERM never
	// kills the guard while a scenario process exists.
	sigemptyset(&guarded);
	sigaddset(&guarded, SIGTERM);
	sigaddset(&guarded, SIGCHLD);
	sigaddset(&guarded, SIGALRM);
	sigprocmask(SIG_BLOCK, &guarded, NULL);
	make_pipe(term_pipe);
	install_handler(SIGTERM, on_term);
	install_handler(SIGCHLD, on_guard_signal);
	install_handler(SIGALRM, on_guard_signal);
	parse_options(argc, argv, &opts);
	if (!is_known_mode(opts.mode)) {
		fprintf(stderr, "zombiegen: unknown mode %s\n", opts.mode);
		usage(stderr);
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		die("prctl(PR_SET_CHILD_SUBREAPER)");
	fflush(NULL);
	scenario = fork_or_die();
	if (scenario == 0) {
		in_scenario = true;
		if (setpgid(0, 0) != 0)
			die("setpgid");
		// Give the scenario default signal handling and its own SIGTERM
		// pipe. fork does not copy the subreaper flag, so the scenario is
		// a subreaper only where its mode sets the flag.
		signal(SIGCHLD, SIG_DFL);
		signal(SIGALRM, SIG_DFL);
		close_fd(&term_pipe[0]);
		close_fd(&term_pipe[1]);
		make_pipe(term_pipe);
		sigprocmask(SIG_UNBLOCK, &guarded, NULL);
		exit(run_mode(&opts));
	}
	// Set the group from both sides, so that it exists whichever process
	// runs first.
	setpgid(scenario, scenario);
	return guard(scenario);
}
