package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// UserHZ is the number of clock ticks per second in which procfs reports
// times such as the start time in /proc/PID/stat. Linux fixes USER_HZ at 100
// on x86_64 and arm64, independent of the kernel's CONFIG_HZ, and it is the
// value that sysconf(_SC_CLK_TCK) returns there.
const UserHZ = 100

// errNoBootTime is returned when /proc/stat has no btime line.
var errNoBootTime = errors.New("missing btime line")

// BootTime reads the system boot time from the btime line of /proc/stat
// under root. The kernel prints it in whole seconds since the Unix epoch.
func BootTime(root string) (time.Time, error) {
	path := filepath.Join(root, "stat")
	data, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, fmt.Errorf("read boot time: %w", err)
	}

	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		value, ok := strings.CutPrefix(scanner.Text(), "btime ")
		if !ok {
			continue
		}
		seconds, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("parse btime in %s: %w", path, err)
		}
		return time.Unix(seconds, 0), nil
	}
	if err := scanner.Err(); err != nil {
		return time.Time{}, fmt.Errorf("read boot time from %s: %w", path, err)
	}
	return time.Time{}, fmt.Errorf("read boot time from %s: %w", path, errNoBootTime)
}

// TicksToDuration converts clock ticks of UserHZ, such as Stat.StartTicks,
// to a duration. Values too large for a time.Duration (about 292 years)
// return the maximum duration.
func TicksToDuration(ticks uint64) time.Duration {
	const tick = time.Second / UserHZ
	if ticks > math.MaxInt64/uint64(tick) {
		return math.MaxInt64
	}
	return time.Duration(ticks) * tick
}
