// Command latency computes zombie detection delays for bench/run.sh.
//
// Both modes read a deaths file written by bench/c/zombies.c, with lines
// "NSPID DEATH_NS": each child's PID in its PID namespace and the
// CLOCK_REALTIME in nanoseconds at which its parent saw it exit.
//
// With -trace, the file holds zombietrace's JSON Lines output, each line
// prefixed by the CLOCK_REALTIME in seconds (bash's $EPOCHREALTIME) at
// which the reader got it. For each lingering record of a child with the
// given -comm, it reports two delays beyond -min-age. The first comes from
// the record itself: age_seconds minus min-age. The second runs from the
// death the parent saw to the line's arrival.
//
// With -poll, the file holds bench/procpoll's output, and the delay is
// from the death to the end of the scan that first saw the zombie.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

func main() {
	deathsPath := flag.String("deaths", "", "deaths file from zombies.c (required)")
	tracePath := flag.String("trace", "", "zombietrace JSON Lines, each line prefixed by its arrival time")
	pollPath := flag.String("poll", "", "procpoll output")
	minAge := flag.Duration("min-age", 0, "the --min-age zombietrace ran with")
	comm := flag.String("comm", "zombies", "command name of the zombies to count")
	flag.Parse()
	if *deathsPath == "" || (*tracePath == "") == (*pollPath == "") {
		log.Fatal("usage: latency -deaths FILE (-trace FILE -min-age D | -poll FILE)")
	}
	deaths := readDeaths(*deathsPath)
	if *tracePath != "" {
		fromRecord, fromArrival := traceDelays(*tracePath, deaths, *minAge, *comm)
		printStats("record", fromRecord, len(deaths))
		printStats("arrival", fromArrival, len(deaths))
		return
	}
	printStats("poll", pollDelays(*pollPath, deaths), len(deaths))
}

func readDeaths(path string) map[int]int64 {
	deaths := map[int]int64{}
	forEachLine(path, func(line string) {
		var pid int
		var ns int64
		if n, _ := fmt.Sscanf(line, "%d %d", &pid, &ns); n == 2 {
			deaths[pid] = ns
		}
	})
	return deaths
}

type record struct {
	Type       string  `json:"type"`
	AgeSeconds float64 `json:"age_seconds"`
	Zombie     struct {
		NSPID int    `json:"ns_pid"`
		Comm  string `json:"comm"`
	} `json:"zombie"`
}

func traceDelays(path string, deaths map[int]int64, minAge time.Duration, comm string) (fromRecord, fromArrival []time.Duration) {
	forEachLine(path, func(line string) {
		stamp, payload, ok := strings.Cut(line, " ")
		if !ok {
			return
		}
		var r record
		if json.Unmarshal([]byte(payload), &r) != nil || r.Type != "lingering" || r.Zombie.Comm != comm {
			return
		}
		died, ok := deaths[r.Zombie.NSPID]
		if !ok {
			return
		}
		arrival, err := strconv.ParseFloat(stamp, 64)
		if err != nil {
			return
		}
		age := time.Duration(r.AgeSeconds * float64(time.Second))
		fromRecord = append(fromRecord, age-minAge)
		fromArrival = append(fromArrival, time.Duration(arrival*1e9-float64(died))-minAge)
	})
	return fromRecord, fromArrival
}

func pollDelays(path string, deaths map[int]int64) []time.Duration {
	var delays []time.Duration
	forEachLine(path, func(line string) {
		if !strings.HasPrefix(line, "zombie ") {
			return
		}
		var pid, nsPID int
		var seen int64
		if n, _ := fmt.Sscanf(line, "zombie pid=%d ns_pid=%d seen_ns=%d", &pid, &nsPID, &seen); n != 3 {
			return
		}
		if died, ok := deaths[nsPID]; ok {
			delays = append(delays, time.Duration(seen-died))
		}
	})
	return delays
}

// printStats prints one line: "NAME matched=N of=M p50_ms=.. p99_ms=..
// max_ms=.. mean_ms=..". A negative delay means the detection came before
// the death time the parent took, which lags the exit by milliseconds
// when the parent waits for a CPU.
func printStats(name string, delays []time.Duration, total int) {
	if len(delays) == 0 {
		fmt.Printf("%s matched=0 of=%d\n", name, total)
		return
	}
	slices.Sort(delays)
	var sum time.Duration
	for _, d := range delays {
		sum += d
	}
	fmt.Printf("%s matched=%d of=%d p50_ms=%.2f p99_ms=%.2f max_ms=%.2f mean_ms=%.2f\n",
		name, len(delays), total, ms(percentile(delays, 50)), ms(percentile(delays, 99)),
		ms(delays[len(delays)-1]), ms(sum/time.Duration(len(delays))))
}

// percentile uses the nearest-rank method on sorted values.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func forEachLine(path string, fn func(string)) {
	f, err := os.Open(path)
	if err != nil {
		log.Fatalf("open %s failed: %v", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		fn(sc.Text())
	}
	if err := sc.Err(); err != nil {
		log.Fatalf("read %s failed: %v", path, err)
	}
}
