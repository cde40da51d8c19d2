"""Python's multiprocessing zombie case, for the reap-mode test.

Run as PID 1 of a new PID namespace, this script runs itself twice with the
argument "pool" and waits for each run by PID with subprocess.run. Each run
uses a spawn-context Pool, which starts multiprocessing's resource tracker.
When a run exits, this script, as PID 1, adopts the run's resource tracker.
The tracker then exits and stays a zombie, because this script waits only for
the PIDs it started. The script prints "ready" and then "tick N" every 100 ms,
to show that it keeps running.
"""

import multiprocessing
import subprocess
import sys
import time


def square(x):
    return x * x


def run_pool():
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        print("pool", sum(pool.map(square, range(10))), flush=True)


def main():
    if sys.argv[1:] == ["pool"]:
        run_pool()
        return
    for _ in range(2):
        subprocess.run([sys.executable, __file__, "pool"], check=True)
    print("ready", flush=True)
    tick = 0
    while True:
        time.sleep(0.1)
        tick += 1
        print("tick", tick, flush=True)


if __name__ == "__main__":
    main()
