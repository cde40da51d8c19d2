package diagnose

import (
	"fmt"
	"slices"
	"strings"

	"github.com/zombietrace/zombietrace/internal/report"
)

// stateNames are the /proc/PID/stat states that keep a parent from running.
var stateNames = map[byte]string{
	'T': "stopped",
	't': "tracing stop",
	'D': "uninterruptible sleep",
	'S': "sleeping",
	'R': "running",
}

func stateEvidence(p *liveProcess) string {
	name := stateNames[p.stat.State]
	if name == "" {
		return fmt.Sprintf("parent state %c", p.stat.State)
	}
	return fmt.Sprintf("parent state %c (%s)", p.stat.State, name)
}

// maskEvidence describes SIGCHLD in the parent's live signal masks.
func maskEvidence(p *liveProcess) string {
	var parts []string
	switch {
	case p.catchesSIGCHLD():
		parts = append(parts, "handler installed (SigCgt)")
	case p.ignoresSIGCHLD():
		parts = append(parts, "ignored (SigIgn)")
	default:
		parts = append(parts, "default disposition, no handler")
	}
	if p.blocksSIGCHLD() {
		parts = append(parts, "blocked (SigBlk)")
	}
	return fmt.Sprintf("parent %d now: SIGCHLD %s", p.pid, strings.Join(parts, ", "))
}

// sigchldEvidence describes the parent's SIGCHLD handling at the death,
// as "SIGCHLD: default disposition, delivery ignored".
func sigchldEvidence(s *report.SIGCHLD) string {
	parts := []string{s.Disposition + " disposition"}
	if s.Disposition == "handler" {
		parts[0] = "handler installed"
	}
	if len(s.Flags) > 0 {
		parts = append(parts, "flags "+strings.Join(s.Flags, "|"))
	}
	if s.Blocked {
		parts = append(parts, "blocked")
	}
	switch s.Delivery {
	case "":
	case "already_pending":
		parts = append(parts, "delivery already_pending (merged with a SIGCHLD not yet handled)")
	default:
		parts = append(parts, "delivery "+s.Delivery)
	}
	return "SIGCHLD: " + strings.Join(parts, ", ")
}

// waitsEvidence summarises the parent's wait calls since the death, as
// "3 wait4 calls since death, all for other PIDs: pid 52, pid 62".
func waitsEvidence(w *report.Waits) string {
	return waitsEvidenceSince(w, "since death")
}

// waitsEvidenceSince describes the calls of w, which began at the moment
// that since names.
func waitsEvidenceSince(w *report.Waits, since string) string {
	if w.Calls == 0 && w.History != nil && w.History.Calls > 0 {
		return fmt.Sprintf("no wait4 or waitid call %s; before it, %d calls seen: "+
			"%d for specific PIDs, %d for any child", since, w.History.Calls, w.History.SpecificPIDs, w.History.AnyChild)
	}
	if w.Calls == 0 {
		return "no wait4 or waitid call " + since
	}
	calls := fmt.Sprintf("%d %s %s", w.Calls, callNoun(w), since)
	switch w.Summary {
	case report.WaitOtherPIDs:
		text := calls + ", all for other PIDs: " + strings.Join(targets(w), ", ")
		if len(w.Recent) < w.Calls {
			text += fmt.Sprintf(" (last %d of %d calls listed)", len(w.Recent), w.Calls)
		}
		return text
	case report.WaitNothingDone:
		return calls + ", all WNOHANG and none returned a child: " + recentCalls(w)
	}
	return calls + ": " + recentCalls(w)
}

// callNoun returns "wait4 calls", "waitid calls" or "wait calls".
func callNoun(w *report.Waits) string {
	name := ""
	for i, c := range w.Recent {
		if i > 0 && c.Syscall != name {
			name = ""
			break
		}
		name = c.Syscall
	}
	if name == "" || w.Calls > len(w.Recent) {
		name = "wait"
	}
	if w.Calls == 1 {
		return name + " call"
	}
	return name + " calls"
}

// targets returns the distinct targets of the recent calls, in order.
func targets(w *report.Waits) []string {
	var out []string
	for _, c := range w.Recent {
		if !slices.Contains(out, c.Target) {
			out = append(out, c.Target)
		}
	}
	return out
}

func recentCalls(w *report.Waits) string {
	calls := make([]string, len(w.Recent))
	for i, c := range w.Recent {
		calls[i] = c.Syscall + "(" + c.Target
		if len(c.Options) > 0 {
			calls[i] += "," + strings.Join(c.Options, "|")
		}
		calls[i] += fmt.Sprintf(")=%d", c.Return)
	}
	return strings.Join(calls, " ")
}
