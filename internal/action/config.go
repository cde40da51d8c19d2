//go:build linux

// Package action acts on lingering zombies, when the user opts in: it sends
// a signal to the parent (signal mode), or makes the parent reap the zombie
// by injecting a waitid call with ptrace (reap mode, see package reaper).
// Safety rules, a rate limit and a failure limit decide whether and when to
// act. Every action, skip and confirmation is written as a record of type
// report.TypeAction. docs/actions.md describes the behaviour for users.
package action

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zombietrace/zombietrace/internal/reaper"
	"github.com/zombietrace/zombietrace/internal/report"
)

// Modes of Config.Mode.
const (
	ModeOff    = ""
	ModeSignal = "signal"
	ModeReap   = "reap"
)

// Defaults applied by New to zero values.
const (
	DefaultSignal      = syscall.SIGCHLD
	DefaultInterval    = 10 * time.Second
	DefaultRate        = 5.0
	DefaultMaxFailures = 3
)

// Config configures an Engine. The zero value, with Mode off, does nothing.
type Config struct {
	// Mode is ModeSignal, ModeReap or ModeOff.
	Mode string
	// Signal is the signal that signal mode sends to the parent; 0 means
	// DefaultSignal (SIGCHLD).
	Signal syscall.Signal
	// DryRun makes the engine emit OutcomeDryRun records that describe the
	// action it would take, once per zombie, and take none.
	DryRun bool
	// ActAfter is the minimum age of a zombie, counted from its death,
	// before the engine acts on it. 0 acts at once on a lingering record,
	// so the tracker's minimum age applies.
	ActAfter time.Duration
	// AllowCommands and DenyCommands are regular expressions matched
	// against the parent's comm and against its command line joined with
	// spaces. A parent that matches a deny expression is skipped. When
	// AllowCommands is set, a parent that matches none of them is skipped.
	AllowCommands, DenyCommands []string
	// AllowCgroups and DenyCgroups are cgroup path prefixes matched against
	// the zombie's cgroup (Record.Cgroup) at whole path components:
	// "/system.slice" matches "/system.slice/cron.service" but not
	// "/system.slice2". Deny wins over allow. When AllowCgroups is set, a
	// zombie with no known cgroup is skipped.
	AllowCgroups, DenyCgroups []string
	// AllowHostInit permits acting on a parent that is PID 1 of
	// zombietrace's own PID namespace, which is the host's init when
	// zombietrace runs on the host. PID 1 of a container's namespace has
	// another PID in zombietrace's namespace and needs no permission.
	AllowHostInit bool
	// Interval is the minimum time between two actions on the same zombie,
	// and how long signal mode waits for the zombie to be reaped before it
	// reports OutcomeNoEffect. 0 means DefaultInterval.
	Interval time.Duration
	// Rate is the maximum number of actions per second over all zombies.
	// 0 means DefaultRate.
	Rate float64
	// MaxFailures is how many failed actions in a row on one parent make
	// the engine give up on that parent. Refused, failed and no_effect
	// outcomes count, and a confirmed action resets the count. 0 means
	// DefaultMaxFailures.
	MaxFailures int
	// Logger receives one log record per action, skip and confirmation.
	// Nil discards them.
	Logger *slog.Logger
	// Injections, if set, remembers each waitid call that a reap makes a
	// parent run, for the tracker to tell it from the parent's own.
	Injections *reaper.Injections
	// Emit receives one record of Type report.TypeAction per action, skip
	// and confirmation. It is called only from the goroutine that runs
	// Engine.Run.
	Emit func(report.Record)
	// OnAction is called with the action kind (ModeSignal or ModeReap) and
	// the outcome of every record passed to Emit, for metrics. It is called
	// from the same goroutine as Emit.
	OnAction func(kind, outcome string)

	// signalName is the text given to --signal; Validate reports it when
	// it names no signal.
	signalName string
}

// stringList is a repeatable string flag.
type stringList struct{ values *[]string }

func (l stringList) String() string {
	if l.values == nil {
		return ""
	}
	return strings.Join(*l.values, ",")
}

func (l stringList) Set(value string) error {
	*l.values = append(*l.values, value)
	return nil
}

// signalFlag sets Config.Signal from a signal name.
type signalFlag struct{ cfg *Config }

func (f signalFlag) String() string {
	if f.cfg == nil || f.cfg.Signal == 0 {
		return unix.SignalName(DefaultSignal)
	}
	return unix.SignalName(f.cfg.Signal)
}

func (f signalFlag) Set(value string) error {
	f.cfg.signalName = value
	if sig, ok := parseSignal(value); ok {
		f.cfg.Signal = sig
	}
	return nil
}

// RegisterFlags defines the action flags on fs and returns the Config that
// they fill in. Call Validate after fs.Parse.
func RegisterFlags(fs *flag.FlagSet) *Config {
	cfg := &Config{}
	fs.StringVar(&cfg.Mode, "action", ModeOff,
		"act on lingering zombies: signal (send --signal to the parent) or reap "+
			"(make the parent reap the zombie with ptrace); empty to only report")
	fs.Var(signalFlag{cfg}, "signal",
		"signal that --action signal sends to the parent, by name such as SIGCHLD or USR1, or by number")
	fs.BoolVar(&cfg.DryRun, "dry-run", false,
		"report what --action would do, once per zombie, without doing it")
	fs.DurationVar(&cfg.ActAfter, "act-after", 0,
		"act only on zombies at least this old, counted from their death (0: as soon as reported)")
	fs.Var(stringList{&cfg.AllowCommands}, "action-allow-cmd",
		"act only on parents whose comm or command line matches this regular expression (repeatable)")
	fs.Var(stringList{&cfg.DenyCommands}, "action-deny-cmd",
		"never act on parents whose comm or command line matches this regular expression (repeatable)")
	fs.Var(stringList{&cfg.AllowCgroups}, "action-allow-cgroup",
		"act only on zombies whose cgroup path starts with this prefix (repeatable)")
	fs.Var(stringList{&cfg.DenyCgroups}, "action-deny-cgroup",
		"never act on zombies whose cgroup path starts with this prefix (repeatable)")
	fs.BoolVar(&cfg.AllowHostInit, "action-allow-host-init", false,
		"permit acting on PID 1 of zombietrace's own PID namespace (the host's init)")
	fs.DurationVar(&cfg.Interval, "action-interval", DefaultInterval,
		"minimum time between two actions on one zombie, and how long to wait for a signal to take effect")
	fs.Float64Var(&cfg.Rate, "action-rate", DefaultRate, "maximum actions per second over all zombies")
	fs.IntVar(&cfg.MaxFailures, "action-max-failures", DefaultMaxFailures,
		"give up on a parent after this many failed actions in a row")
	return cfg
}

// Validate checks every field and returns one sentence per invalid value,
// joined with errors.Join, or nil.
func (c *Config) Validate() error {
	var errs []error
	switch c.Mode {
	case ModeOff, ModeSignal, ModeReap:
	default:
		errs = append(errs, fmt.Errorf("invalid --action %q: use signal, reap, or leave it empty", c.Mode))
	}
	if c.signalName != "" {
		if _, ok := parseSignal(c.signalName); !ok {
			errs = append(errs, fmt.Errorf("unknown signal name %q for --signal: use a name such as "+
				"SIGCHLD or SIGUSR1, or a number from 1 to 64", c.signalName))
		}
	} else if c.Signal < 0 || c.Signal > maxSignal {
		errs = append(errs, fmt.Errorf("invalid signal %d: use a number from 1 to 64", int(c.Signal)))
	}
	if c.ActAfter < 0 {
		errs = append(errs, fmt.Errorf("invalid --act-after %s: use 0 or a positive duration", c.ActAfter))
	}
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("invalid --action-interval %s: use a positive duration such as 10s",
			c.Interval))
	}
	if c.Rate < 0 || c.Rate != c.Rate {
		errs = append(errs, fmt.Errorf("invalid --action-rate %v: use a positive number of actions per second",
			c.Rate))
	}
	if c.MaxFailures < 0 {
		errs = append(errs, fmt.Errorf("invalid --action-max-failures %d: use a positive number", c.MaxFailures))
	}
	for _, flagged := range []struct {
		name     string
		patterns []string
	}{{"--action-allow-cmd", c.AllowCommands}, {"--action-deny-cmd", c.DenyCommands}} {
		for _, p := range flagged.patterns {
			if _, err := regexp.Compile(p); err != nil {
				errs = append(errs, fmt.Errorf("invalid regular expression %q for %s: %w", p, flagged.name, err))
			}
		}
	}
	for _, flagged := range []struct {
		name     string
		prefixes []string
	}{{"--action-allow-cgroup", c.AllowCgroups}, {"--action-deny-cgroup", c.DenyCgroups}} {
		for _, p := range flagged.prefixes {
			if !strings.HasPrefix(p, "/") {
				errs = append(errs, fmt.Errorf("invalid cgroup prefix %q for %s: use an absolute path "+
					"such as /system.slice", p, flagged.name))
			}
		}
	}
	return errors.Join(errs...)
}

// maxSignal is the highest signal number on Linux (SIGRTMAX).
const maxSignal = 64

// parseSignal parses "SIGCHLD", "CHLD", "sigchld" or a number from 1 to 64.
func parseSignal(text string) (syscall.Signal, bool) {
	if n, err := strconv.Atoi(text); err == nil {
		return syscall.Signal(n), n >= 1 && n <= maxSignal
	}
	name := strings.ToUpper(text)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	sig := unix.SignalNum(name)
	return sig, sig != 0
}

// withDefaults returns c with the defaults in place of zero values.
func (c Config) withDefaults() Config {
	if c.Signal == 0 {
		c.Signal = DefaultSignal
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Emit == nil {
		c.Emit = func(report.Record) {}
	}
	if c.OnAction == nil {
		c.OnAction = func(string, string) {}
	}
	return c
}
