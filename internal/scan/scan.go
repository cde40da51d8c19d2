// Package scan implements "zombietrace scan": a one-shot look at the
// zombies that /proc shows now, diagnosed from /proc alone. It needs no BPF,
// so it works where loading BPF programs is not allowed. docs/scan.md lists
// what it cannot know that tracing does.
package scan

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/zombietrace/zombietrace/internal/diagnose"
	"github.com/zombietrace/zombietrace/internal/flagutil"
	"github.com/zombietrace/zombietrace/internal/report"
)

// Exit codes of Run.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// config is the parsed command line.
type config struct {
	output    string
	parentPID int
	procRoot  string
}

const usageHeader = `Usage: zombietrace scan [flags]

List the zombies that exist now, grouped by parent, with a diagnosis of why
each one is not reaped. Reads only /proc and loads no BPF program, so it
works where tracing is not allowed, but it cannot see wait calls, handovers
or when a zombie died (see docs/scan.md).

Examples:
  zombietrace scan                   every zombie on the machine
  zombietrace scan --pid 1234        only zombies whose parent is PID 1234
  zombietrace scan --output json     JSON Lines, one record per zombie

Flags:
`

// Run runs "zombietrace scan" with args (without "scan") and returns the
// exit code: ExitOK, ExitUsage after a usage error (printed on stderr) or
// ExitFailure when /proc cannot be read or the output cannot be written.
func Run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stdout, stderr)
	if errors.Is(err, flagutil.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitUsage
	}
	if err := scan(cfg, stdout); err != nil {
		fmt.Fprintf(stderr, "zombietrace scan: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

func parseFlags(args []string, stdout, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("zombietrace scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.output, "output", report.FormatText, "output format: text or json (JSON Lines)")
	fs.IntVar(&cfg.parentPID, "pid", 0, "only list zombies whose parent has this PID (0: all)")
	fs.StringVar(&cfg.procRoot, "proc", "/proc", "directory where procfs is mounted")
	if err := flagutil.Parse(fs, usageHeader, args, stdout); err != nil {
		return cfg, err
	}
	switch {
	case fs.NArg() > 0:
		return cfg, usageError(fs, "unexpected argument %q: scan takes only flags", fs.Arg(0))
	case cfg.output != report.FormatText && cfg.output != report.FormatJSON:
		return cfg, usageError(fs, "invalid --output %q: use text or json", cfg.output)
	case cfg.parentPID < 0:
		return cfg, usageError(fs, "invalid --pid %d: use a PID greater than 0, or 0 for all", cfg.parentPID)
	case cfg.procRoot == "":
		return cfg, usageError(fs, "invalid --proc \"\": use the procfs mount point, such as /proc")
	}
	return cfg, nil
}

func usageError(fs *flag.FlagSet, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(fs.Output(), "zombietrace scan: %s\n", msg)
	fs.Usage()
	return errors.New(msg)
}

func scan(cfg config, stdout io.Writer) error {
	out, err := report.NewWriter(cfg.output, stdout)
	if err != nil {
		return err
	}
	groups, err := Zombies(cfg.procRoot, cfg.parentPID)
	if err != nil {
		return err
	}
	for _, g := range groups {
		if cfg.output == report.FormatText {
			if _, err := fmt.Fprintln(stdout, groupLine(g)); err != nil {
				return fmt.Errorf("write group line: %w", err)
			}
		}
		for _, r := range g.Records {
			if err := out.Write(r); err != nil {
				return err
			}
		}
	}
	return nil
}

// groupLine formats the text line that precedes a parent's records, like
// `parent pid=42 cmd="sleep 60" zombies=3 verdict=ns_init_never_reaps`.
func groupLine(g Group) string {
	var b strings.Builder
	fmt.Fprintf(&b, "parent pid=%d", g.ParentPID)
	if g.Parent != nil {
		cmd := g.Parent.Comm
		if len(g.Parent.Cmdline) > 0 {
			cmd = strings.Join(g.Parent.Cmdline, " ")
		}
		fmt.Fprintf(&b, " cmd=%s", strconv.Quote(cmd))
	}
	fmt.Fprintf(&b, " zombies=%d", len(g.Records))
	var verdicts []string
	summary := ""
	for _, r := range g.Records {
		if r.Diagnosis == nil || slices.Contains(verdicts, r.Diagnosis.Verdict) {
			continue
		}
		verdicts = append(verdicts, r.Diagnosis.Verdict)
		summary = r.Diagnosis.Summary
	}
	if len(verdicts) > 0 {
		b.WriteString(" verdict=" + strings.Join(verdicts, ","))
	}
	if len(verdicts) == 1 {
		b.WriteString(" summary=" + strconv.Quote(summary))
	}
	return b.String()
}

// diagnoseAll diagnoses every record of every group.
func diagnoseAll(groups []Group, procRoot string) {
	for i := range groups {
		for j := range groups[i].Records {
			diagnose.Diagnose(&groups[i].Records[j], procRoot)
		}
	}
}
