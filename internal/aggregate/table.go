package aggregate

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// maxNameWidth cuts long command lines so that a row fits a terminal.
const maxNameWidth = 60

// WriteTable writes rows as an aligned table with a header line.
func WriteTable(w io.Writer, rows []Row, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "%s  %d groups\n", now.Format("15:04:05"), len(rows))
	fmt.Fprintln(tw, "ZOMBIES\tOLDEST\tNEW/MIN\tKIND\tVERDICT\tHELD BY")
	for _, r := range rows {
		name := r.Name
		if len(name) > maxNameWidth {
			name = name[:maxNameWidth-3] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\t%s\n", r.Zombies, r.Oldest.Round(time.Second),
			r.NewPerMinute, r.Kind, dash(r.Verdict), name)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
