//go:build linux

package action

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/zombietrace/zombietrace/internal/reaper"
	"github.com/zombietrace/zombietrace/internal/report"
)

// classify maps an action's error to an outcome: OutcomeRefused when the
// kernel rejected the ptrace attach or the signal with EPERM, otherwise
// OutcomeFailed.
func classify(err error) string {
	if errors.Is(err, reaper.ErrPtraceRefused) || errors.Is(err, syscall.EPERM) {
		return report.OutcomeRefused
	}
	return report.OutcomeFailed
}

func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return "signal " + strconv.Itoa(int(sig))
}

// log writes one log record per action record: at warning level for an
// outcome that counts as a failure, at info level otherwise.
func (e *Engine) log(r *report.Record, act *report.Action) {
	level := slog.LevelInfo
	switch act.Outcome {
	case report.OutcomeFailed, report.OutcomeRefused, report.OutcomeNoEffect:
		level = slog.LevelWarn
	}
	attrs := []slog.Attr{
		slog.String("kind", act.Kind),
		slog.String("outcome", act.Outcome),
		slog.Uint64("zombie_pid", uint64(r.Zombie.PID)),
	}
	if r.Parent != nil {
		attrs = append(attrs, slog.Uint64("parent_pid", uint64(r.Parent.PID)),
			slog.String("parent_comm", r.Parent.Comm))
	}
	if act.Signal != "" {
		attrs = append(attrs, slog.String("signal", act.Signal))
	}
	if act.Attempt > 0 {
		attrs = append(attrs, slog.Int("attempt", act.Attempt))
	}
	if act.Reason != "" {
		attrs = append(attrs, slog.String("reason", act.Reason))
	}
	if act.DryRun {
		attrs = append(attrs, slog.Bool("dry_run", true))
	}
	e.cfg.Logger.LogAttrs(context.Background(), level, "zombie action", attrs...)
}
