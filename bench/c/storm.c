// storm: fork a child that calls _exit(0), wait for it with waitpid, and
// repeat for the given number of seconds. Prints "cycles=N seconds=S
// cycles_per_second=R cpu_ns_per_cycle=C" on standard output, where C is
// the user plus system CPU time of the storm and its children (getrusage)
// per cycle: unlike the rate, it does not drop when other processes take
// the CPU.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 5;
	double start = now_seconds(), elapsed = 0;
	unsigned long cycles = 0;

	if (seconds <= 0) {
		fprintf(stderr, "usage: storm SECONDS (a positive number)\n");
		return 2;
	}
	while (elapsed < seconds) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0)
			_exit(0);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		cycles++;
		/* clock_gettime is a vDSO call, cheap next to a fork. */
		elapsed = now_seconds() - start;
	}
	printf("cycles=%lu seconds=%.3f cycles_per_second=%.1f cpu_ns_per_cycle=%.0f\n",
	       cycles, elapsed, cycles / elapsed,
	       (cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN)) / cycles * 1e9);
	return 0;
}
