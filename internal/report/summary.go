package report

import (
	"fmt"
	"io"
	"strings"
)

// Summary is written once when zombietrace stops.
type Summary struct {
	Type string `json:"type"` // always "summary"
	// ZombiesSeen counts zombies reported as lingering.
	ZombiesSeen    int `json:"zombies_seen"`
	FoundAtStart   int `json:"found_at_start"`
	StillLingering int `json:"still_lingering"`
	Reaped         int `json:"reaped"`
	HandedOver     int `json:"handed_over"`
	// EventsLost counts events the kernel could not put into the full
	// ring buffer, by event kind.
	EventsLost map[string]uint64 `json:"events_lost"`
	// Events counts events read from the ring buffer.
	Events uint64 `json:"events"`
}

// TypeSummary is the Type of a Summary.
const TypeSummary = "summary"

// WriteSummary writes s in format, FormatText or FormatJSON.
func WriteSummary(w io.Writer, format string, s Summary) error {
	s.Type = TypeSummary
	if format == FormatJSON {
		return (&jsonWriter{enc: newEncoder(w)}).encode(s)
	}
	var lost uint64
	var kinds []string
	for kind, n := range s.EventsLost {
		lost += n
		if n > 0 {
			kinds = append(kinds, fmt.Sprintf("%s:%d", kind, n))
		}
	}
	line := fmt.Sprintf("summary zombies_seen=%d found_at_start=%d still_lingering=%d "+
		"reaped=%d handed_over=%d events=%d events_lost=%d",
		s.ZombiesSeen, s.FoundAtStart, s.StillLingering, s.Reaped, s.HandedOver, s.Events, lost)
	if len(kinds) > 0 {
		line += " lost_by_kind=" + strings.Join(kinds, ",")
	}
	if _, err := fmt.Fprintln(w, line); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}
