// Package cli implements the zombietrace command: flags, start-up checks,
// the event loop and the exit codes.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/zombietrace/zombietrace/internal/action"
	"github.com/zombietrace/zombietrace/internal/flagutil"
	"github.com/zombietrace/zombietrace/internal/probe"
	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/tracker"
)

// Exit codes, documented in the README.
const (
	ExitOK          = 0
	ExitFailure     = 1 // a runtime error
	ExitUsage       = 2 // invalid flags or arguments
	ExitPrivileges  = 3 // missing root or capabilities
	ExitUnsupported = 4 // the kernel lacks BTF, the ring buffer or tracefs
)

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

// Config is the parsed command line.
type Config struct {
	Output         string
	MinAge         time.Duration
	ParentPID      int
	RingBufferSize int
	LogFormat      string
	LogLevel       string
	ReadyFile      string
	ShowVersion    bool
	// MetricsAddr is the listen address of the Prometheus endpoint; ""
	// turns it off.
	MetricsAddr string
	// Kubernetes turns on pod name lookup through the API server.
	Kubernetes bool
	Action     *action.Config
	// Top shows the live view of zombietrace top instead of records.
	Top bool
	// UnknownEnv lists ZOMBIETRACE_ variables that name no flag, which
	// zombietrace ignores with a warning.
	UnknownEnv []string
	Refresh    time.Duration
}

const usageHeader = `Usage: zombietrace [flags]
       zombietrace top [flags]
       zombietrace scan [--output text|json] [--pid N]

Trace processes that become zombies and stay unreaped: who each one was,
who created it, which parent holds it, what that parent did about it, and
how long it lingered. Needs root, or CAP_BPF and CAP_PERFMON.

Examples:
  zombietrace                      report every lingering zombie
  zombietrace --pid 1              only zombies held by PID 1
  zombietrace --output json        JSON Lines, one record per line
  zombietrace --min-age 500ms      report zombies older than 500 ms
  zombietrace top                  a live table of zombies per parent and container
  zombietrace scan                 list the zombies in /proc now, without BPF
  zombietrace --metrics-addr :9476 serve Prometheus metrics as a node agent
  zombietrace --pid 1 --action reap --dry-run
                                   show which zombies held by PID 1 would be reaped

Every flag can also be set with an environment variable named after it:
ZOMBIETRACE_ and the flag in capitals with - as _, e.g. ZOMBIETRACE_MIN_AGE=10s.
A flag on the command line wins over the variable. A ZOMBIETRACE_ variable
that names no flag is ignored with a warning.

Flags:
`

const (
	// maxPID is one below PID_MAX_LIMIT (4 << 20), the largest pid_max
	// Linux allows on 64-bit: PIDs stay below pid_max.
	maxPID = 4<<20 - 1
	// maxRingBuffer bounds --ring-buffer-size at 1 GiB: the ring buffer is
	// mapped into zombietrace, and 4 MiB already holds 40,000 events.
	maxRingBuffer = 1 << 30
)

// parseFlags parses args. It returns flagutil.ErrHelp after printing the help.
func parseFlags(args []string, top bool, stdout, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("zombietrace", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Output, "output", report.FormatText, "output format: text or json (JSON Lines)")
	fs.DurationVar(&cfg.MinAge, "min-age", tracker.DefaultMinAge,
		"report a zombie once it has stayed unreaped this long")
	fs.IntVar(&cfg.ParentPID, "pid", 0, "only report zombies whose parent has this PID (0: all)")
	fs.IntVar(&cfg.RingBufferSize, "ring-buffer-size", probe.DefaultRingBufferSize,
		"size of the BPF ring buffer in bytes: a power of two, at least 4096")
	fs.StringVar(&cfg.LogFormat, "log-format", "text", "format of the log on stderr: text or json")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&cfg.ReadyFile, "ready-file", "",
		"create this file once the probes are attached (for scripts and tests)")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "",
		"serve Prometheus metrics, /healthz and /readyz on this address, e.g. :9476 (off when empty)")
	fs.BoolVar(&cfg.Kubernetes, "kubernetes", false,
		"look up pod names of this node's pods through the Kubernetes API (needs NODE_NAME and in-cluster credentials)")
	cfg.Action = action.RegisterFlags(fs)
	fs.DurationVar(&cfg.Refresh, "refresh", 2*time.Second, "how often zombietrace top redraws its table")
	fs.BoolVar(&cfg.ShowVersion, "version", false, "print the version and exit")
	if err := flagutil.Parse(fs, usageHeader, args, stdout); err != nil {
		return cfg, err
	}
	fromEnv, err := applyEnv(fs)
	if err != nil {
		return cfg, usageError(fs, "%v", err)
	}
	if fs.NArg() > 0 {
		return cfg, usageError(fs, "unexpected argument %q: zombietrace takes only flags", fs.Arg(0))
	}
	cfg.Top = top
	cfg.UnknownEnv = unknownEnv(fs, os.Environ())
	if err := validate(cfg); err != nil {
		return cfg, usageError(fs, "%s", withEnvSource(err.Error(), fromEnv))
	}
	return cfg, nil
}

func validate(cfg Config) error {
	switch {
	case cfg.Output != report.FormatText && cfg.Output != report.FormatJSON:
		return fmt.Errorf("invalid --output %q: use text or json", cfg.Output)
	case cfg.MinAge <= 0:
		return fmt.Errorf("invalid --min-age %s: use a positive duration such as 5s", cfg.MinAge)
	case cfg.ParentPID < 0 || cfg.ParentPID > maxPID:
		return fmt.Errorf("invalid --pid %d: use a PID from 1 to %d, or 0 for all", cfg.ParentPID, maxPID)
	case cfg.RingBufferSize < 4096 || cfg.RingBufferSize > maxRingBuffer ||
		cfg.RingBufferSize&(cfg.RingBufferSize-1) != 0:
		return fmt.Errorf("invalid --ring-buffer-size %d: use a power of two from 4096 to %d, such as 4194304",
			cfg.RingBufferSize, maxRingBuffer)
	case cfg.Top && cfg.Output == report.FormatJSON:
		return errors.New("zombietrace top prints a table, not JSON: drop --output json, " +
			"or run zombietrace --output json for records")
	case cfg.Refresh <= 0:
		return fmt.Errorf("invalid --refresh %s: use a positive duration such as 2s", cfg.Refresh)
	case cfg.LogFormat != "text" && cfg.LogFormat != "json":
		return fmt.Errorf("invalid --log-format %q: use text or json", cfg.LogFormat)
	}
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		return err
	}
	if cfg.MetricsAddr != "" {
		if err := checkListenAddr(cfg.MetricsAddr); err != nil {
			return fmt.Errorf("invalid --metrics-addr %q: %v; use host:port or :port, such as :9476",
				cfg.MetricsAddr, err)
		}
	}
	if cfg.Kubernetes && cfg.MetricsAddr == "" {
		return errors.New("--kubernetes adds pod names to the metrics, so it needs --metrics-addr")
	}
	return cfg.Action.Validate()
}

func usageError(fs *flag.FlagSet, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(fs.Output(), "zombietrace: %s\n", msg)
	fs.Usage()
	return errors.New(msg)
}

// checkListenAddr checks the syntax of a TCP listen address, so that a
// typo is a usage error rather than a failure at start.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("port %q is not a number from 0 to 65535 or a service name", port)
	}
	return nil
}
