// zombies: fork COUNT children, one every INTERVAL_MS milliseconds (0: as
// fast as possible), that call _exit(0) and are never waited for. For each
// child it prints "PID DEATH_NS" on standard output, where DEATH_NS is the
// CLOCK_REALTIME at which the child was seen to exit (waitid with WNOWAIT,
// which leaves it a zombie). Then it prints "ready" and sleeps until a
// signal ends it.
//
// Run it as PID 1 of a PID namespace of its own (unshare --pid --fork), so
// that its zombies are reaped by the kernel when it is killed.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long count = argc > 1 ? atol(argv[1]) : 10000;
	long interval_ms = argc > 2 ? atol(argv[2]) : 0;
	struct timespec gap = { interval_ms / 1000, (interval_ms % 1000) * 1000000L };

	if (count <= 0 || interval_ms < 0) {
		fprintf(stderr, "usage: zombies COUNT [INTERVAL_MS]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (long i = 0; i < count; i++) {
		siginfo_t info;
		struct timespec died;
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			_exit(0);
		/* WNOWAIT returns once the child is a zombie and leaves it one. */
		while (waitid(P_PID, pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR)
			;
		clock_gettime(CLOCK_REALTIME, &died);
		printf("%d %lld\n", pid, (long long)died.tv_sec * 1000000000LL + died.tv_nsec);
		if (interval_ms > 0)
			nanosleep(&gap, NULL);
	}
	printf("ready\n");
	for (;;)
		pause();
}
