// duty: spin for BUSY_US microseconds every PERIOD_US microseconds, for
// SECONDS seconds. It imitates a tracer's periodic CPU use on another
// CPU, to measure what such a neighbour costs a storm by itself.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: duty BUSY_US PERIOD_US SECONDS\n");
		return 2;
	}
	double busy = atof(argv[1]) / 1e6, period = atof(argv[2]) / 1e6;
	double end = now_seconds() + atof(argv[3]);
	volatile unsigned long spins = 0;

	if (busy < 0 || period <= busy) {
		fprintf(stderr, "duty: BUSY_US must be below PERIOD_US\n");
		return 2;
	}
	while (now_seconds() < end) {
		double start = now_seconds();
		struct timespec rest = { 0, (long)((period - busy) * 1e9) };

		while (now_seconds() - start < busy)
			spins++;
		nanosleep(&rest, NULL);
	}
	return 0;
}
