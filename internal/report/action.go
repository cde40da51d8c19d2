package report

// TypeAction is the Type of a record about an action taken on a zombie.
const TypeAction = "action"

// Action describes one action zombietrace took, or would take with
// --dry-run, on a lingering zombie's parent.
type Action struct {
	// Kind is "signal" or "reap".
	Kind string `json:"kind"`
	// Signal is the signal sent, for Kind "signal".
	Signal string `json:"signal,omitempty"`
	// Outcome is one of the Outcome* constants.
	Outcome string `json:"outcome"`
	// Reason explains a failure, a refusal or a skip.
	Reason string `json:"reason,omitempty"`
	DryRun bool   `json:"dry_run,omitempty"`
	// Attempt counts the actions taken on this zombie, this one included.
	Attempt         int     `json:"attempt,omitempty"`
	DurationSeconds float64 `json:"duration_seconds,omitempty"`
	// WaitedBefore is set when the parent had already called wait for
	// this zombie's PID: after a reap, its next such call gets ECHILD.
	WaitedBefore bool `json:"waited_before,omitempty"`
}

// Action outcomes.
const (
	OutcomeDone      = "done"      // the action ran
	OutcomeConfirmed = "confirmed" // kernel events showed the zombie reaped after the action
	OutcomeNoEffect  = "no_effect" // the action ran but the zombie is still there
	OutcomeDryRun    = "dry_run"   // --dry-run: nothing was done
	OutcomeSkipped   = "skipped"   // a safety rule held the action back
	OutcomeRefused   = "refused"   // the kernel refused (ptrace EPERM, another tracer)
	OutcomeFailed    = "failed"    // the action failed for another reason
)
