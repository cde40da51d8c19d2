// Package tracetest runs the real BPF probe and the tracker inside a test
// and collects the records they write, for end-to-end tests on the
// running kernel.
package tracetest

import (
	"context"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/loop"
	"github.com/zombietrace/zombietrace/internal/probe"
	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/tracker"
)

// RequireEnv names the variable that turns a skip for missing privileges
// into a failure. CI sets it, so that BPF tests cannot pass by skipping.
const RequireEnv = "ZOMBIETRACE_REQUIRE_BPF"

// RequireBPF skips the test when the process cannot load BPF programs,
// or fails it when RequireEnv is set to 1.
func RequireBPF(t testing.TB) {
	t.Helper()
	missing, err := probe.MissingCapabilities()
	if err == nil && len(missing) == 0 {
		return
	}
	reason := "loading BPF programs needs root or CAP_BPF and CAP_PERFMON"
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s, and %s=1 forbids skipping", reason, RequireEnv)
	}
	t.Skip(reason)
}

type config struct {
	minAge         time.Duration
	parentPID      uint32
	ringBufferSize int
	onRecord       func(report.Record)
}

// Option changes a Session's tracker configuration.
type Option func(*config)

// MinAge sets the tracker's minimum zombie age; the default is 300 ms.
func MinAge(d time.Duration) Option { return func(c *config) { c.minAge = d } }

// ParentPID limits records to zombies held by pid, as --pid does.
func ParentPID(pid int) Option { return func(c *config) { c.parentPID = uint32(pid) } }

// RingBufferSize sets the ring buffer size in bytes.
func RingBufferSize(n int) Option { return func(c *config) { c.ringBufferSize = n } }

// Session is a running probe and tracker.
type Session struct {
	mu      sync.Mutex
	changed chan struct{}
	records []report.Record
	summary report.Summary
	cancel  context.CancelFunc
	done    chan struct{}
}

// Start loads and attaches the probe, starts the tracker and registers
// Stop with t.Cleanup. It skips or fails the test as RequireBPF does.
func Start(t testing.TB, opts ...Option) *Session {
	t.Helper()
	RequireBPF(t)
	cfg := config{minAge: 300 * time.Millisecond}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Session{changed: make(chan struct{}), done: make(chan struct{})}
	emit := s.add
	if cfg.onRecord != nil {
		emit = func(r report.Record) {
			s.add(r)
			cfg.onRecord(r)
		}
	}
	tr, err := tracker.New(tracker.Config{MinAge: cfg.minAge, ParentPID: cfg.parentPID, Emit: emit})
	if err != nil {
		t.Fatalf("start tracker: %v", err)
	}
	p, err := probe.Load(probe.Options{RingBufferSize: cfg.ringBufferSize})
	if err != nil {
		t.Fatalf("load probe: %v", err)
	}
	if err := tr.ScanExisting(); err != nil {
		t.Fatalf("scan existing zombies: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	events := loop.New(p, tr, nil)
	go func() {
		defer close(s.done)
		defer p.Close()
		if err := events.Run(ctx); err != nil {
			t.Errorf("event loop: %v", err)
		}
		s.mu.Lock()
		s.summary = events.Summary()
		s.mu.Unlock()
	}()
	t.Cleanup(func() { s.Stop() })
	return s
}

func (s *Session) add(r report.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, r)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Records returns a copy of every record written so far.
func (s *Session) Records() []report.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]report.Record(nil), s.records...)
}

// TimeoutScaleEnv names a variable that multiplies every WaitRecord
// timeout, for kernels run under emulation, where processes start many
// times slower. vmtest sets it in its guests.
const TimeoutScaleEnv = "ZOMBIETRACE_TIMEOUT_SCALE"

// Scale multiplies d by the factor in TimeoutScaleEnv, if set.
func Scale(d time.Duration) time.Duration {
	if f, err := strconv.ParseFloat(os.Getenv(TimeoutScaleEnv), 64); err == nil && f > 1 {
		return time.Duration(float64(d) * f)
	}
	return d
}

// WaitRecord returns the first record that match accepts, waiting up to
// timeout (scaled by Scale) for it, and fails the test if none arrives.
func (s *Session) WaitRecord(t testing.TB, match func(report.Record) bool, timeout time.Duration) report.Record {
	t.Helper()
	timeout = Scale(timeout)
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		changed := s.changed
		for _, r := range s.records {
			if match(r) {
				s.mu.Unlock()
				return r
			}
		}
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no matching record within %s; got %d records", timeout, len(s.Records()))
			return report.Record{}
		}
	}
}

// Stop detaches the probe and returns the summary. It is safe to call
// more than once.
func (s *Session) Stop() report.Summary {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.summary
}
