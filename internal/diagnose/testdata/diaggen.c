// diaggen creates the zombie situations that package diagnose tests need
// and zombiegen (internal/scenario) does not offer.
//
// Usage: diaggen MODE [COUNT]
//
//   parent-exited   a parent leaves a dead child unreaped and exits, and a
//                   child subreaper adopts the zombie and never waits for it
//   waitspecific    the parent polls waitpid(pid, WNOHANG) for a running
//                   child only, while its other children are zombies
//   ignore-late     the parent sets SIGCHLD to SIG_IGN after its children
//                   died, which leaves them zombies
//
// Once the situation exists, diaggen prints "ready key=value ..." and holds
// it until stdin reaches EOF or SIGTERM arrives, then reaps everything and
// exits 0. The process started by the caller is a guard: a child subreaper
// that forks the scenario, reaps every orphan below it and exits 3 if any
// process other than the scenario was left for it to reap.
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 16
#define AWAIT_TIMEOUT_MS 10000

static volatile sig_atomic_t term_received;

static void on_term(int sig)
{
	(void)sig;
	term_received = 1;
}

static void die(const char *what)
{
	fprintf(stderr, "diaggen[%d]: %s: %s\n", getpid(), what, strerror(errno));
	kill(0, SIGKILL);
	_exit(1);
}

static void sleep_ms(int ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

// Returns the state letter of /proc/PID/stat, or 0 if the process is gone.
static char proc_state(pid_t pid)
{
	char path[64], buf[1024];
	FILE *f;
	char *paren;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren != NULL && paren[1] == ' ' ? paren[2] : '?';
}

// Polls /proc, so that the scenario makes no wait call a tracer would see.
static void await_zombie(pid_t pid)
{
	for (int waited = 0; proc_state(pid) != 'Z'; waited++) {
		if (waited > AWAIT_TIMEOUT_MS) {
			errno = ETIMEDOUT;
			die("await zombie");
		}
		sleep_ms(1);
	}
}

static pid_t fork_or_die(void)
{
	pid_t pid = fork();

	if (pid < 0)
		die("fork");
	return pid;
}

// Holds the situation until EOF on stdin or SIGTERM, calling tick every
// 100 ms.
static void hold(void (*tick)(void))
{
	struct pollfd fd = {.fd = STDIN_FILENO, .events = POLLIN};
	char buf[64];

	while (!term_received) {
		if (tick != NULL)
			tick();
		if (poll(&fd, 1, 100) > 0 && read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
			return;
	}
}

static void reap_all(void)
{
	signal(SIGCHLD, SIG_DFL);
	while (waitpid(-1, NULL, __WALL) >= 0 || errno == EINTR) {
	}
}

static void print_pids(const char *key, const pid_t *pids, int count)
{
	printf(" %s=", key);
	for (int i = 0; i < count; i++)
		printf(i == 0 ? "%d" : ",%d", pids[i]);
}

static int run_parent_exited(void)
{
	int report[2];
	pid_t parent, zombie;

	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		die("prctl");
	if (pipe(report) != 0)
		die("pipe");
	parent = fork_or_die();
	if (parent == 0) {
		close(report[0]);
		zombie = fork_or_die();
		if (zombie == 0)
			_exit(5);
		await_zombie(zombie);
		if (write(report[1], &zombie, sizeof(zombie)) != sizeof(zombie))
			die("write");
		_exit(0);
	}
	close(report[1]);
	if (read(report[0], &zombie, sizeof(zombie)) != sizeof(zombie))
		die("read");
	// The one wait of this subreaper is for the parent it started.
	while (waitpid(parent, NULL, 0) < 0) {
		if (errno != EINTR)
			die("waitpid");
	}
	await_zombie(zombie);
	printf("ready parent=%d original_parent=%d zombies=%d\n", getpid(), parent, zombie);
	fflush(stdout);
	hold(NULL);
	reap_all();
	return 0;
}

static pid_t polled;

static void poll_specific(void)
{
	waitpid(polled, NULL, WNOHANG);
}

static int run_waitspecific(int count)
{
	pid_t zombies[MAX_CHILDREN];

	polled = fork_or_die();
	if (polled == 0) {
		for (;;)
			pause();
	}
	for (int i = 0; i < count; i++) {
		zombies[i] = fork_or_die();
		if (zombies[i] == 0)
			_exit(2);
	}
	for (int i = 0; i < count; i++)
		await_zombie(zombies[i]);
	printf("ready parent=%d polled=%d", getpid(), polled);
	print_pids("zombies", zombies, count);
	printf("\n");
	fflush(stdout);
	hold(poll_specific);
	kill(polled, SIGKILL);
	reap_all();
	return 0;
}

static int run_ignore_late(int count)
{
	pid_t zombies[MAX_CHILDREN];

	for (int i = 0; i < count; i++) {
		zombies[i] = fork_or_die();
		if (zombies[i] == 0)
			_exit(0);
	}
	for (int i = 0; i < count; i++)
		await_zombie(zombies[i]);
	signal(SIGCHLD, SIG_IGN);
	printf("ready parent=%d", getpid());
	print_pids("zombies", zombies, count);
	printf("\n");
	fflush(stdout);
	hold(NULL);
	reap_all();
	return 0;
}

static int run_mode(const char *mode, int count)
{
	if (strcmp(mode, "parent-exited") == 0)
		return run_parent_exited();
	if (strcmp(mode, "waitspecific") == 0)
		return run_waitspecific(count);
	if (strcmp(mode, "ignore-late") == 0)
		return run_ignore_late(count);
	fprintf(stderr, "diaggen: unknown mode %s\n", mode);
	return 2;
}

// Reaps the scenario and every orphan, forwarding SIGTERM.
static int guard(pid_t scenario)
{
	sigset_t set;
	int status = 0, exit_status = 1;
	bool leftovers = false;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		pid_t pid = waitpid(-1, &status, WNOHANG | __WALL);
		struct timespec timeout = {.tv_sec = 1};
		siginfo_t info;

		if (pid == scenario) {
			exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			continue;
		}
		if (pid > 0) {
			fprintf(stderr, "diaggen: reaped orphan %d\n", pid);
			leftovers = true;
			continue;
		}
		if (pid < 0 && errno == ECHILD)
			break;
		if (sigtimedwait(&set, &info, &timeout) == SIGTERM)
			kill(scenario, SIGTERM);
	}
	return leftovers && exit_status == 0 ? 3 : exit_status;
}

int main(int argc, char **argv)
{
	sigset_t set;
	struct sigaction action = {.sa_handler = on_term};
	int count = argc > 2 ? atoi(argv[2]) : 1;
	pid_t scenario;

	if (argc < 2 || count < 1 || count > MAX_CHILDREN) {
		fprintf(stderr, "usage: diaggen MODE [COUNT 1..%d]\n", MAX_CHILDREN);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0)
		die("prctl");
	scenario = fork_or_die();
	if (scenario == 0) {
		setpgid(0, 0);
		sigemptyset(&action.sa_mask);
		sigaction(SIGTERM, &action, NULL);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		exit(run_mode(argv[1], count));
	}
	setpgid(scenario, scenario);
	return guard(scenario);
}
