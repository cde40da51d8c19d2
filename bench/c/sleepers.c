// sleepers: fork COUNT children that sleep until killed, print "ready",
// and sleep too. Run it as PID 1 of a PID namespace of its own (unshare
// --pid --fork), so that killing it kills and reaps every child.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long count = argc > 1 ? atol(argv[1]) : 10000;

	if (count <= 0) {
		fprintf(stderr, "usage: sleepers COUNT\n");
		return 2;
	}
	for (long i = 0; i < count; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			for (;;)
				pause();
		}
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
