package cli

import (
	"context"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zombietrace/zombietrace/internal/aggregate"
	"github.com/zombietrace/zombietrace/internal/report"
)

// discard is a report.Writer that drops records: zombietrace top shows the
// aggregate table instead.
type discard struct{}

func (discard) Write(report.Record) error { return nil }

// clearScreen moves the cursor home and clears a terminal (ANSI).
const clearScreen = "\x1b[H\x1b[2J"

// startTop redraws the table of zombies per parent and container every
// refresh, until ctx ends or the returned function is called.
func startTop(ctx context.Context, refresh time.Duration, w io.Writer, records *sink) func() {
	agg := aggregate.New()
	records.observers = append(records.observers, agg.Observe)
	terminal := isTerminal(w)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := time.NewTicker(refresh)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-ticker.C:
				if terminal {
					io.WriteString(w, clearScreen)
				}
				_ = aggregate.WriteTable(w, agg.Rows(now), now)
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
