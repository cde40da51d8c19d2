// Command procpoll finds zombies the way a /proc poller does: every
// interval it reads /proc/PID/stat of every process and looks for state Z.
// It is the baseline that bench/run.sh compares zombietrace with.
//
// For each scan it prints one line:
//
//	scan n=N processes=P zombies=Z wall_us=W cpu_us=C
//
// where cpu_us is the user plus system CPU time of this process during the
// scan (getrusage RUSAGE_SELF, so Go runtime threads are included). For
// each zombie seen for the first time it prints:
//
//	zombie pid=PID ns_pid=NSPID seen_ns=T
//
// where T is the CLOCK_REALTIME in nanoseconds at which the scan that
// found it ended, which is when a poller has the result. NSPID is its PID
// in its own PID namespace, read from /proc/PID/status after the scan and
// outside the measured time.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	interval := flag.Duration("interval", time.Second, "time between the starts of two scans")
	duration := flag.Duration("duration", 0, "stop after this long (0: run until SIGINT or SIGTERM)")
	procRoot := flag.String("proc", "/proc", "where procfs is mounted")
	flag.Parse()
	if *interval <= 0 {
		log.Fatalf("invalid -interval %v: must be positive", *interval)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	var deadline <-chan time.Time
	if *duration > 0 {
		deadline = time.After(*duration)
	}
	ticker := time.NewTicker(*interval)
	defer ticker.Stop()

	seen := map[int]bool{}
	buf := make([]byte, 4096)
	for n := 1; ; n++ {
		start := time.Now()
		before := cpuTime()
		processes, zombies := scan(*procRoot, buf)
		cpu := cpuTime() - before
		end := time.Now()
		wall := end.Sub(start)
		fmt.Printf("scan n=%d processes=%d zombies=%d wall_us=%d cpu_us=%d\n",
			n, processes, len(zombies), wall.Microseconds(), cpu.Microseconds())
		current := make(map[int]bool, len(zombies))
		for _, pid := range zombies {
			current[pid] = true
			if !seen[pid] {
				fmt.Printf("zombie pid=%d ns_pid=%d seen_ns=%d\n", pid, nsPID(*procRoot, pid), end.UnixNano())
			}
		}
		seen = current
		select {
		case <-ticker.C:
		case <-deadline:
			return
		case <-stop:
			return
		}
	}
}

// scan reads the state of every process and returns how many it read and
// the PIDs of those in state Z.
func scan(procRoot string, buf []byte) (processes int, zombies []int) {
	dir, err := os.Open(procRoot)
	if err != nil {
		log.Fatalf("open %s failed: %v", procRoot, err)
	}
	defer dir.Close()
	names, err := dir.Readdirnames(-1)
	if err != nil {
		log.Fatalf("list %s failed: %v", procRoot, err)
	}
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		state, ok := readState(procRoot+"/"+name+"/stat", buf)
		if !ok {
			continue // the process exited during the scan
		}
		processes++
		if state == 'Z' {
			zombies = append(zombies, pid)
		}
	}
	return processes, zombies
}

// readState returns the state field of a /proc/PID/stat file, which
// follows the command name in parentheses.
func readState(path string, buf []byte) (byte, bool) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	defer syscall.Close(fd)
	n, err := syscall.Read(fd, buf)
	if err != nil || n <= 0 {
		return 0, false
	}
	end := bytes.LastIndexByte(buf[:n], ')')
	if end < 0 || end+2 >= n {
		return 0, false
	}
	return buf[end+2], true
}

// nsPID returns the last NSpid entry of /proc/PID/status, or 0.
func nsPID(procRoot string, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("%s/%d/status", procRoot, pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if fields, ok := strings.CutPrefix(line, "NSpid:"); ok {
			all := strings.Fields(fields)
			if len(all) == 0 {
				return 0
			}
			nr, _ := strconv.Atoi(all[len(all)-1])
			return nr
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
