//go:build linux

package action

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zombietrace/zombietrace/internal/procfs"
	"github.com/zombietrace/zombietrace/internal/reaper"
	"github.com/zombietrace/zombietrace/internal/report"
)

// startTolerance is how far a start time read from /proc may differ from a
// record's start time for the same process. /proc counts in 10 ms ticks,
// and the tracker and the engine each derive the boot time from their own
// reading of the clocks.
const startTolerance = 50 * time.Millisecond

// errProcessChanged reports that a PID now belongs to another process.
var errProcessChanged = errors.New("the PID now belongs to another process")

// procView reads /proc in zombietrace's PID namespace.
type procView struct {
	root string
	// boot is the wall time at boot, the origin of /proc start times.
	boot time.Time
}

func newProcView(root string) (procView, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return procView{}, fmt.Errorf("read boot clock: %w", err)
	}
	return procView{root: root, boot: time.Now().Add(-time.Duration(ts.Nano()))}, nil
}

// stat reads the process pid and checks that it started at start. It
// returns an error wrapping errProcessChanged when it did not, and one
// wrapping procfs.ErrNoProcess when pid does not exist.
func (v procView) stat(pid uint32, start time.Time) (procfs.Stat, error) {
	st, err := procfs.ReadStat(v.root, int(pid))
	if err != nil {
		return procfs.Stat{}, err
	}
	got := v.boot.Add(procfs.TicksToDuration(st.StartTicks))
	if diff := got.Sub(start); diff > startTolerance || diff < -startTolerance {
		return procfs.Stat{}, fmt.Errorf("pid %d started at %s, not %s: %w", pid,
			got.Format(time.StampMilli), start.Format(time.StampMilli), errProcessChanged)
	}
	return st, nil
}

// stillZombie reports whether the zombie of a record is still a zombie.
func (v procView) stillZombie(z report.Process) bool {
	st, err := v.stat(z.PID, z.StartTime)
	return err == nil && st.State == 'Z'
}

// ownPIDNamespace returns the inode of zombietrace's PID namespace.
func ownPIDNamespace(root string) (uint32, error) {
	link, err := os.Readlink(root + "/self/ns/pid")
	if err != nil {
		return 0, fmt.Errorf("read own PID namespace: %w", err)
	}
	// The link reads "pid:[4026531836]".
	inode, ok := strings.CutPrefix(link, "pid:[")
	inode, ok2 := strings.CutSuffix(inode, "]")
	n, err := strconv.ParseUint(inode, 10, 32)
	if !ok || !ok2 || err != nil {
		return 0, fmt.Errorf("parse own PID namespace link %q", link)
	}
	return uint32(n), nil
}

// sendSignal sends sig to the parent through a pidfd, after checking that
// the pidfd refers to the process of the record and not to a process that
// reused its PID.
func (v procView) sendSignal(parent report.Process, sig syscall.Signal) error {
	fd, err := unix.PidfdOpen(int(parent.PID), 0)
	if err != nil {
		return fmt.Errorf("open pidfd of parent %d: %w", parent.PID, err)
	}
	defer unix.Close(fd)
	if _, err := v.stat(parent.PID, parent.StartTime); err != nil {
		return fmt.Errorf("check parent: %w", err)
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("send %s to parent %d: %w", unix.SignalName(sig), parent.PID, err)
	}
	return nil
}

// reap makes the parent reap childNS, after checking that the parent's PID
// still belongs to the process of the record.
//
// NOTE: the PID can still be reused between the check and PTRACE_SEIZE. The
// injected waitid then collects at most a zombie child of that other
// process whose PID is childNS, as package reaper documents.
func (v procView) reap(ctx context.Context, parent report.Process, childNS int, opts reaper.Options) (
	reaper.Result, error,
) {
	if _, err := v.stat(parent.PID, parent.StartTime); err != nil {
		return reaper.Result{}, fmt.Errorf("check parent: %w", err)
	}
	return reaper.ReapWithOptions(ctx, int(parent.PID), childNS, opts)
}
