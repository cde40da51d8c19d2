// sigparent is a parent with the classic SIGCHLD coalescing bug, for the
// signal-mode test. Run it as PID 1 of a new PID namespace
// (unshare --pid --fork --kill-child).
//
// Its handler calls waitpid(-1, WNOHANG) once per signal. Two children exit
// while SIGCHLD is blocked, so their two signals merge into one pending
// signal, and the handler reaps only one child when SIGCHLD is unblocked.
// The other child stays a zombie until another SIGCHLD arrives, which is
// what zombietrace --action signal sends.
//
// It prints "ready NSPID", where NSPID is the zombie's PID in the new
// namespace, then blocks in read(2) on stdin and exits at end of file.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t last_reaped;

static void reap_one(int sig)
{
	int saved_errno = errno;
	pid_t pid;

	(void)sig;
	pid = waitpid(-1, NULL, WNOHANG);
	if (pid > 0)
		last_reaped = pid;
	errno = saved_errno;
}

int main(void)
{
	struct sigaction action = {.sa_handler = reap_one, .sa_flags = SA_RESTART};
	sigset_t sigchld;
	pid_t children[2];
	char buf[64];

	sigemptyset(&action.sa_mask);
	if (sigaction(SIGCHLD, &action, NULL) != 0) {
		perror("sigaction");
		return 1;
	}
	sigemptyset(&sigchld);
	sigaddset(&sigchld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &sigchld, NULL);
	for (int i = 0; i < 2; i++) {
		children[i] = fork();
		if (children[i] < 0) {
			perror("fork");
			return 1;
		}
		if (children[i] == 0)
			_exit(0);
	}
	// WNOWAIT waits for each exit without reaping, so both children are
	// zombies before SIGCHLD is unblocked.
	for (int i = 0; i < 2; i++) {
		siginfo_t info;

		if (waitid(P_PID, children[i], &info, WEXITED | WNOWAIT) != 0) {
			perror("waitid");
			return 1;
		}
	}
	// The merged SIGCHLD is delivered before sigprocmask returns.
	sigprocmask(SIG_UNBLOCK, &sigchld, NULL);
	printf("ready %d\n", last_reaped == children[0] ? children[1] : children[0]);
	fflush(stdout);
	while (read(STDIN_FILENO, buf, sizeof(buf)) != 0) {
	}
	return 0;
}
