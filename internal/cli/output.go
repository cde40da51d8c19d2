package cli

import (
	"sync"

	"github.com/zombietrace/zombietrace/internal/container"
	"github.com/zombietrace/zombietrace/internal/diagnose"
	"github.com/zombietrace/zombietrace/internal/report"
)

// sink writes every record and hands it to the metrics and the action
// engine. The tracker and the action engine call it from two goroutines.
type sink struct {
	mu        sync.Mutex
	out       report.Writer
	err       error
	observers []func(report.Record)
	// onError, if set, is called once with the first write error.
	onError func(error)
}

func (s *sink) write(r report.Record) {
	if r.Type != report.TypeAction {
		enrich(&r)
	}
	s.mu.Lock()
	err := s.out.Write(r)
	first := err != nil && s.err == nil
	if first {
		s.err = err
	}
	s.mu.Unlock()
	if first && s.onError != nil {
		s.onError(err)
	}
	for _, observe := range s.observers {
		observe(r)
	}
}

// writeErr returns the first error that writing a record returned.
func (s *sink) writeErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// enrich adds what the tracker does not know: the container that the
// cgroup path names, and a diagnosis from the parent's state in /proc.
func enrich(r *report.Record) {
	if r.Container == nil {
		r.Container = container.FromCgroup(r.Cgroup)
	}
	diagnose.Diagnose(r, "/proc")
}
