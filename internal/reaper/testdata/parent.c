// Test parent for package reaper. It creates a zombie child, prints
// "ready <pid>", then blocks in the state named by argv[1] while doing work
// whose result the test checks: the FNV-1a sum of stdin, and for some modes
// a fixed amount of computation. At the end it prints "final ECHILD" when a
// waitid for the zombie fails with ECHILD, that is when something reaped it.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ZOMBIE_EXIT_CODE 7
#define WORKER_EXIT_CODE 42
#define WORK_THREADS 3
#define WORK_ROUNDS 100000000ULL

static void say(const char *format, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, format);
	int n = vsnprintf(buf, sizeof(buf), format, ap);
	va_end(ap);
	if (n > 0 && write(STDOUT_FILENO, buf, (size_t)n) != n)
		_exit(90);
}

static void die(const char *what)
{
	char buf[256];
	int n = snprintf(buf, sizeof(buf), "error: %s: %s\n", what, strerror(errno));
	if (write(STDERR_FILENO, buf, (size_t)n) < 0)
		_exit(92);
	_exit(91);
}

static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

// read_all reads fd to EOF and prints its FNV-1a sum and length.
static void read_all(int fd)
{
	unsigned char buf[4096];
	uint64_t h = 14695981039346656037ULL;
	size_t total = 0;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read");
		if (n == 0)
			break;
		h = fnv1a(h, buf, (size_t)n);
		total += (size_t)n;
	}
	say("sum %016llx bytes %zu\n", (unsigned long long)h, total);
}

static pid_t make_zombie(void)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		_exit(ZOMBIE_EXIT_CODE);
	siginfo_t si;
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0)
		die("waitid WNOWAIT");
	return pid;
}

static void final_check(pid_t zombie)
{
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)zombie, &si, WEXITED | WNOHANG) < 0) {
		if (errno == ECHILD) {
			say("final ECHILD\n");
			return;
		}
		die("final waitid");
	}
	say("final reaped pid %d status %d\n", (int)si.si_pid, si.si_status);
}

static uint64_t xorshift_rounds(uint64_t x, uint64_t rounds)
{
	for (uint64_t i = 0; i < rounds; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return x;
}

static void *work_thread(void *arg)
{
	uint64_t *slot = arg;
	*slot = xorshift_rounds(*slot, WORK_ROUNDS);
	return NULL;
}

static void *read_thread(void *arg)
{
	(void)arg;
	read_all(STDIN_FILENO);
	return NULL;
}

// mode_threads keeps the main thread in pthread_join (a futex wait) while
// one thread reads stdin and the others compute.
static void mode_threads(void)
{
	pthread_t reader, workers[WORK_THREADS];
	uint64_t slots[WORK_THREADS];
	if (pthread_create(&reader, NULL, read_thread, NULL) != 0)
		die("pthread_create");
	for (int i = 0; i < WORK_THREADS; i++) {
		slots[i] = (uint64_t)i + 1;
		if (pthread_create(&workers[i], NULL, work_thread, &slots[i]) != 0)
			die("pthread_create");
	}
	pthread_join(reader, NULL);
	uint64_t work = 0;
	for (int i = 0; i < WORK_THREADS; i++) {
		pthread_join(workers[i], NULL);
		work ^= slots[i];
	}
	say("work %016llx\n", (unsigned long long)work);
}

static long elapsed_ms(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

static void mode_nanosleep(long ms)
{
	struct timespec start, end, req = {ms / 1000, (ms % 1000) * 1000000L}, rem;
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (nanosleep(&req, &rem) < 0) {
		if (errno != EINTR)
			die("nanosleep");
		say("nanosleep EINTR\n");
		req = rem;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	say("slept_ms %ld\n", elapsed_ms(&start, &end));
	read_all(STDIN_FILENO);
}

static void mode_epoll(void)
{
	int ep = epoll_create1(0);
	if (ep < 0)
		die("epoll_create1");
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = STDIN_FILENO};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, STDIN_FILENO, &ev) < 0)
		die("epoll_ctl");
	int eintr = 0;
	for (;;) {
		int n = epoll_wait(ep, &ev, 1, -1);
		if (n < 0 && errno == EINTR) {
			eintr++;
			continue;
		}
		if (n < 0)
			die("epoll_wait");
		if (n > 0)
			break;
	}
	dprintf(STDERR_FILENO, "epoll_wait EINTR count %d\n", eintr);
	read_all(STDIN_FILENO);
}

static void mode_poll(void)
{
	struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
	for (;;) {
		int n = poll(&p, 1, 30000);
		if (n < 0 && errno == EINTR) {
			say("poll EINTR\n");
			continue;
		}
		if (n < 0)
			die("poll");
		if (n > 0)
			break;
	}
	read_all(STDIN_FILENO);
}

// mode_waitpid blocks in waitpid for a second child that reads stdin.
static void mode_waitpid(void)
{
	pid_t worker = fork();
	if (worker < 0)
		die("fork");
	if (worker == 0) {
		read_all(STDIN_FILENO);
		_exit(WORKER_EXIT_CODE);
	}
	int status;
	while (waitpid(worker, &status, 0) < 0) {
		if (errno != EINTR)
			die("waitpid");
		say("waitpid EINTR\n");
	}
	say("worker exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

#define ALLOW(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)

#if defined(__x86_64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_SELF AUDIT_ARCH_AARCH64
#endif

// mode_seccomp allows only the calls that the rest of the program makes, plus
// waitid, and kills the process on anything else.
static void mode_seccomp(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_SELF, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		ALLOW(__NR_read),
		ALLOW(__NR_write),
		ALLOW(__NR_waitid),
		ALLOW(__NR_exit_group),
		ALLOW(__NR_restart_syscall),
		ALLOW(__NR_rt_sigreturn),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
	};
	struct sock_fprog prog = {.len = sizeof(filter) / sizeof(filter[0]), .filter = filter};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("prctl no_new_privs");
	if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		die("seccomp");
	read_all(STDIN_FILENO);
}

static volatile int soak_done;

static void *soak_thread(void *arg)
{
	uint64_t *slot = arg;
	*slot = xorshift_rounds(*slot, WORK_ROUNDS);
	while (!soak_done) {
		struct timespec t = {0, 100000};
		nanosleep(&t, NULL);
		xorshift_rounds(1, 10000);
	}
	return NULL;
}

// mode_soak creates count zombies and stays busy: the main thread alternates
// between poll with a 1 ms timeout, reads and computation, while two threads
// compute and sleep.
static void mode_soak(int count)
{
	pid_t *zombies = calloc((size_t)count, sizeof(pid_t));
	if (zombies == NULL)
		die("calloc");
	for (int i = 0; i < count; i++)
		zombies[i] = make_zombie();
	say("ready");
	for (int i = 0; i < count; i++)
		say(" %d", (int)zombies[i]);
	say("\n");

	pthread_t threads[2];
	uint64_t slots[2] = {1, 2};
	for (int i = 0; i < 2; i++)
		if (pthread_create(&threads[i], NULL, soak_thread, &slots[i]) != 0)
			die("pthread_create");

	unsigned char buf[512];
	uint64_t h = 14695981039346656037ULL;
	size_t total = 0;
	for (;;) {
		struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
		int n = poll(&p, 1, 1);
		if (n < 0 && errno != EINTR)
			die("poll");
		xorshift_rounds(3, 20000);
		if (n <= 0)
			continue;
		ssize_t got = read(STDIN_FILENO, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			die("read");
		if (got == 0)
			break;
		h = fnv1a(h, buf, (size_t)got);
		total += (size_t)got;
	}
	soak_done = 1;
	uint64_t work = 0;
	for (int i = 0; i < 2; i++) {
		pthread_join(threads[i], NULL);
		work ^= slots[i];
	}
	say("sum %016llx bytes %zu\n", (unsigned long long)h, total);
	say("work %016llx\n", (unsigned long long)work);
	int left = 0;
	for (int i = 0; i < count; i++) {
		siginfo_t si;
		if (waitid(P_PID, (id_t)zombies[i], &si, WEXITED | WNOHANG) == 0)
			left++;
	}
	say("zombies left %d\n", left);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		dprintf(STDERR_FILENO, "usage: parent read|nanosleep|epoll|poll|waitpid|threads|seccomp|soak N\n");
		return 2;
	}
	const char *mode = argv[1];
	if (strcmp(mode, "soak") == 0) {
		mode_soak(argc > 2 ? atoi(argv[2]) : 1000);
		return 0;
	}

	pid_t zombie = make_zombie();
	say("ready %d\n", (int)zombie);

	if (strcmp(mode, "read") == 0)
		read_all(STDIN_FILENO);
	else if (strcmp(mode, "nanosleep") == 0)
		mode_nanosleep(argc > 2 ? atol(argv[2]) : 1500);
	else if (strcmp(mode, "epoll") == 0)
		mode_epoll();
	else if (strcmp(mode, "poll") == 0)
		mode_poll();
	else if (strcmp(mode, "waitpid") == 0)
		mode_waitpid();
	else if (strcmp(mode, "threads") == 0)
		mode_threads();
	else if (strcmp(mode, "seccomp") == 0)
		mode_seccomp();
	else {
		dprintf(STDERR_FILENO, "unknown mode %s\n", mode);
		return 2;
	}
	final_check(zombie);
	return 0;
}
