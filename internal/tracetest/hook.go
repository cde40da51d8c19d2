package tracetest

import "github.com/zombietrace/zombietrace/internal/report"

// OnRecord makes the session call fn with every record the tracker emits,
// after storing it. fn runs on the event-loop goroutine, as the record
// writer does in zombietrace, so it must not block.
func OnRecord(fn func(report.Record)) Option { return func(c *config) { c.onRecord = fn } }
