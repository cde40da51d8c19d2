package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Writer writes records in one format.
type Writer interface {
	Write(Record) error
}

// Formats accepted by NewWriter.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// NewWriter returns a writer for format, FormatText or FormatJSON.
func NewWriter(format string, w io.Writer) (Writer, error) {
	switch format {
	case FormatText:
		return &textWriter{w: w}, nil
	case FormatJSON:
		return &jsonWriter{enc: newEncoder(w)}, nil
	}
	return nil, fmt.Errorf("invalid output format %q: use %s or %s", format, FormatText, FormatJSON)
}

type jsonWriter struct{ enc *json.Encoder }

func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// Write writes the record as one line of JSON. Invalid UTF-8 in command
// lines becomes U+FFFD, so every line stays valid JSON.
func (j *jsonWriter) Write(r Record) error { return j.encode(r) }

func (j *jsonWriter) encode(v any) error {
	if err := j.enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON record: %w", err)
	}
	return nil
}

type textWriter struct{ w io.Writer }

// Write writes the record as one line of key=value pairs.
func (t *textWriter) Write(r Record) error {
	var b strings.Builder
	b.WriteString(r.Time.Local().Format("15:04:05.000"))
	b.WriteString(" " + r.Type)
	writeProcess(&b, "", &r.Zombie)
	switch {
	case r.FoundAtStart:
		fmt.Fprintf(&b, " found_at_start=true age>=%s", formatAge(r.AgeSeconds))
	case r.Recovered:
		fmt.Fprintf(&b, " recovered=true age>=%s", formatAge(r.AgeSeconds))
	default:
		fmt.Fprintf(&b, " age=%s", formatAge(r.AgeSeconds))
	}
	if r.Exit != nil {
		b.WriteString(" exit=" + formatExit(r.Exit))
	}
	writeProcess(&b, "parent_", r.Parent)
	writeProcess(&b, "original_parent_", r.OriginalParent)
	writeProcess(&b, "creator_", r.Creator)
	if n := len(r.Handovers); n > 0 && r.Handovers[n-1].Time != nil {
		b.WriteString(" handed_over=" + r.Handovers[n-1].Time.Local().Format("15:04:05.000"))
	}
	if r.ThreadsAlive {
		b.WriteString(" threads_alive=true")
	}
	writeSIGCHLD(&b, r.SIGCHLD)
	writeWaits(&b, r.Waits)
	writeProcess(&b, "reaped_by_", r.ReapedBy)
	if r.ReapNote != "" {
		b.WriteString(" note=" + strconv.Quote(r.ReapNote))
	}
	if r.Cgroup != "" {
		b.WriteString(" cgroup=" + quoteIfNeeded(r.Cgroup))
	}
	if o := r.Origin; o != nil {
		fmt.Fprintf(&b, " origin=%s:%s origin_entry=%d", o.Kind, o.Runtime, o.Entry.PID)
	}
	writeContainer(&b, r.Container)
	writeDiagnosis(&b, r.Diagnosis)
	writeAction(&b, r.Action)
	b.WriteByte('\n')
	if _, err := io.WriteString(t.w, b.String()); err != nil {
		return fmt.Errorf("write record: %w", err)
	}
	return nil
}

func writeProcess(b *strings.Builder, prefix string, p *Process) {
	if p == nil {
		return
	}
	name := "pid"
	if prefix != "" {
		name = strings.TrimSuffix(prefix, "_")
	}
	fmt.Fprintf(b, " %s=%d", name, p.PID)
	if p.NSPID != p.PID {
		fmt.Fprintf(b, " %sns_pid=%d", prefix, p.NSPID)
	}
	if p.NSInit {
		fmt.Fprintf(b, " %srole=ns-init", prefix)
	} else if p.Subreaper {
		fmt.Fprintf(b, " %srole=subreaper", prefix)
	}
	cmd := p.Comm
	if len(p.Cmdline) > 0 {
		cmd = strings.Join(p.Cmdline, " ")
		if p.CmdlineTruncated {
			cmd += "..."
		}
	}
	fmt.Fprintf(b, " %scmd=%s", prefix, strconv.Quote(cmd))
}

func writeContainer(b *strings.Builder, c *Container) {
	if c == nil {
		return
	}
	b.WriteString(" container=" + c.Runtime)
	if c.ID != "" {
		b.WriteString(":" + c.ID)
	}
	if c.PodUID != "" {
		b.WriteString(" pod_uid=" + c.PodUID)
	}
	if c.Unit != "" {
		b.WriteString(" unit=" + quoteIfNeeded(c.Unit))
	}
}

func writeDiagnosis(b *strings.Builder, d *Diagnosis) {
	if d == nil {
		return
	}
	b.WriteString(" verdict=" + d.Verdict)
	b.WriteString(" why=" + strconv.Quote(d.Summary))
	if d.Fix != "" {
		b.WriteString(" fix=" + strconv.Quote(d.Fix))
	}
}

func writeAction(b *strings.Builder, a *Action) {
	if a == nil {
		return
	}
	fmt.Fprintf(b, " action=%s outcome=%s", a.Kind, a.Outcome)
	if a.Signal != "" {
		b.WriteString(" signal=" + a.Signal)
	}
	if a.Reason != "" {
		b.WriteString(" reason=" + strconv.Quote(a.Reason))
	}
	if a.WaitedBefore {
		b.WriteString(" waited_before=true")
	}
}

func writeSIGCHLD(b *strings.Builder, s *SIGCHLD) {
	if s == nil {
		return
	}
	b.WriteString(" sigchld=" + s.Disposition)
	if len(s.Flags) > 0 {
		b.WriteString("," + strings.Join(s.Flags, ","))
	}
	if s.Blocked {
		b.WriteString(",blocked")
	}
	if s.Delivery != "" {
		b.WriteString(" sigchld_delivery=" + s.Delivery)
	}
}

func writeWaits(b *strings.Builder, w *Waits) {
	if w == nil {
		return
	}
	fmt.Fprintf(b, " waits=%s wait_calls=%d", w.Summary, w.Calls)
	if len(w.Recent) == 0 {
		return
	}
	calls := make([]string, len(w.Recent))
	for i, c := range w.Recent {
		calls[i] = fmt.Sprintf("%s(%s", c.Syscall, c.Target)
		if len(c.Options) > 0 {
			calls[i] += "," + strings.Join(c.Options, "|")
		}
		calls[i] += fmt.Sprintf(")=%d", c.Return)
	}
	b.WriteString(" recent_waits=" + strconv.Quote(strings.Join(calls, " ")))
}

func formatAge(seconds float64) string {
	d := time.Duration(seconds * float64(time.Second))
	// Milliseconds below a second, where --min-age can be 50ms.
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func formatExit(e *ExitStatus) string {
	if e.Code != nil {
		return strconv.Itoa(*e.Code)
	}
	if e.CoreDumped {
		return e.Signal + "(core)"
	}
	return e.Signal
}

func quoteIfNeeded(s string) string {
	if strings.ContainsAny(s, " \"=\t\n") {
		return strconv.Quote(s)
	}
	return s
}
