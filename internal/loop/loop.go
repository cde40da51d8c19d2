// Package loop drains the ring buffer into the tracker and fires its
// timers, on one goroutine, until it is stopped.
package loop

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"time"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/zombietrace/zombietrace/internal/event"
	"github.com/zombietrace/zombietrace/internal/probe"
	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/tracker"
)

// lostCheckInterval is how often the kernel's lost-event counters are read.
const lostCheckInterval = time.Second

// Observer receives the loop's health: lost-event totals and a heartbeat
// at least once a second while the ring buffer is drained.
type Observer interface {
	SetLost(kind string, total uint64)
	Heartbeat(time.Time)
}

// Loop moves events from a probe to a tracker.
type Loop struct {
	// Observer, if set before Run, receives lost-event totals and beats.
	Observer Observer

	probe   *probe.Probe
	tracker *tracker.Tracker
	logger  *slog.Logger
	events  uint64
	resyncs int
	lost    map[event.Kind]uint64
}

// New returns a loop; call Run to start it.
func New(p *probe.Probe, t *tracker.Tracker, logger *slog.Logger) *Loop {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Loop{probe: p, tracker: t, logger: logger, lost: map[event.Kind]uint64{}}
}

// Run handles events until ctx ends or the ring buffer is closed. It
// returns an error only when reading the ring buffer fails.
//
// One goroutine reads, handles and fires the timers, so the tracker needs
// no lock and no goroutine outlives Run. The timers, the lost-event check
// and ctx are checked between batches of events. A batch ends when the
// ring buffer is empty after the next timer is due, or at the latest after
// the probe's poll interval.
func (l *Loop) Run(ctx context.Context) error {
	var rec ringbuf.Record
	nextLostCheck := time.Now().Add(lostCheckInterval)
	for {
		now := time.Now()
		if ctx.Err() != nil {
			l.checkLost()
			return nil
		}
		// NextDeadline returns the zero time when no check is pending,
		// which Poll takes as no deadline.
		next, ok := l.tracker.NextDeadline()
		if ok && !next.After(now) {
			l.tracker.Expire(now)
			next, _ = l.tracker.NextDeadline()
		}
		if !now.Before(nextLostCheck) {
			nextLostCheck = now.Add(lostCheckInterval)
			l.checkLost()
			if l.Observer != nil {
				l.Observer.Heartbeat(now)
			}
		}
		_, err := l.probe.Poll(&rec, next, l.handle)
		switch {
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		case errors.Is(err, probe.ErrShortRecord):
			l.logger.Warn("dropped malformed event", "error", err)
		case err != nil:
			return err
		}
	}
}

func (l *Loop) handle(ev event.Event) {
	l.events++
	l.tracker.Handle(ev)
}

// checkLost logs when the kernel dropped events since the last check.
func (l *Loop) checkLost() {
	lost, err := l.probe.Lost()
	if err != nil {
		l.logger.Warn("read lost-event counters failed", "error", err)
		return
	}
	resync := false
	for kind, n := range lost {
		if n > l.lost[kind] {
			l.logger.Warn("ring buffer full: events lost; raise --ring-buffer-size",
				"kind", kind.String(), "lost", n-l.lost[kind], "lost_total", n)
			resync = true
		}
	}
	maps.Copy(l.lost, lost)
	if l.Observer != nil {
		for kind, n := range lost {
			l.Observer.SetLost(kind.String(), n)
		}
	}
	if !resync {
		return
	}
	if err := l.tracker.Resync(time.Now()); err != nil {
		l.logger.Warn("resync after lost events failed", "error", err)
		return
	}
	l.resyncs++
	l.logger.Info("resynchronised from /proc after lost events", "resyncs", l.resyncs)
}

// Summary returns the counts for the summary line. Call it after Run.
func (l *Loop) Summary() report.Summary {
	s := l.tracker.Stats()
	lost := make(map[string]uint64, len(l.lost))
	for kind, n := range l.lost {
		lost[kind.String()] = n
	}
	return report.Summary{
		ZombiesSeen:    s.Lingering,
		FoundAtStart:   s.FoundAtStart,
		StillLingering: s.Zombies,
		Reaped:         s.Reaped,
		HandedOver:     s.HandedOver,
		EventsLost:     lost,
		Events:         l.events,
	}
}
