package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/zombietrace/zombietrace/internal/action"
	"github.com/zombietrace/zombietrace/internal/flagutil"
	"github.com/zombietrace/zombietrace/internal/loop"
	"github.com/zombietrace/zombietrace/internal/probe"
	"github.com/zombietrace/zombietrace/internal/reaper"
	"github.com/zombietrace/zombietrace/internal/report"
	"github.com/zombietrace/zombietrace/internal/scan"
	"github.com/zombietrace/zombietrace/internal/tracker"
)

// Main runs zombietrace with args (without the program name) and returns
// the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "scan" {
		return scan.Run(args[1:], stdout, stderr)
	}
	top := len(args) > 0 && args[0] == "top"
	if top {
		args = args[1:]
	}
	cfg, err := parseFlags(args, top, stdout, stderr)
	if errors.Is(err, flagutil.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		return ExitUsage
	}
	if cfg.ShowVersion {
		fmt.Fprintf(stdout, "zombietrace %s\n", Version)
		return ExitOK
	}
	logger := newLogger(stderr, cfg.LogFormat, cfg.LogLevel)
	for _, name := range cfg.UnknownEnv {
		logger.Warn("ignored an environment variable that names no flag; check it against zombietrace --help",
			"variable", name)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// With SIGPIPE caught, a write to a closed standard output returns
	// EPIPE instead of killing zombietrace before it detaches.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	return run(ctx, cfg, stdout, logger)
}

func run(ctx context.Context, cfg Config, stdout io.Writer, logger *slog.Logger) int {
	if code := checkPrivileges(logger); code != ExitOK {
		return code
	}
	out, err := report.NewWriter(cfg.Output, stdout)
	if err != nil {
		logger.Error(err.Error())
		return ExitUsage
	}
	if cfg.ReadyFile != "" {
		// A file left by an earlier run must not announce this one.
		if err := os.Remove(cfg.ReadyFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			logger.Error("remove old ready file failed", "path", cfg.ReadyFile, "error", err)
			return ExitFailure
		}
		defer os.Remove(cfg.ReadyFile)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	records := &sink{out: out, onError: func(err error) {
		if errors.Is(err, syscall.EPIPE) {
			logger.Error("standard output was closed; stopping", "error", err)
			cancel(err)
		}
	}}
	if cfg.Top {
		records.out = discard{}
		stopTop := startTop(ctx, cfg.Refresh, stdout, records)
		defer stopTop()
	}
	var injected func(parent, childNS int, options uint32) bool
	if cfg.Action.Mode == action.ModeReap {
		cfg.Action.Injections = &reaper.Injections{}
		injected = cfg.Action.Injections.Take
	}
	agent, err := startAgent(ctx, cfg, records, logger)
	if err != nil {
		logger.Error("start failed", "error", err)
		return ExitFailure
	}
	defer agent.stop()
	tr, err := tracker.New(tracker.Config{
		MinAge:    cfg.MinAge,
		ParentPID: uint32(cfg.ParentPID),
		Logger:    logger,
		Emit:      records.write,
		Injected:  injected,
	})
	if err != nil {
		logger.Error("start tracker failed", "error", err)
		return ExitFailure
	}
	p, err := probe.Load(probe.Options{RingBufferSize: cfg.RingBufferSize, Logger: logger})
	if err != nil {
		return loadFailed(logger, err)
	}
	defer p.Close()
	return trace(ctx, cfg, session{probe: p, tracker: tr, agent: agent, records: records}, stdout, logger)
}

// session is the set of parts that trace drives once the probe is attached.
type session struct {
	probe   *probe.Probe
	tracker *tracker.Tracker
	agent   *agent
	records *sink
}

// trace reports existing zombies, handles events until ctx ends, then
// detaches and writes the summary.
func trace(ctx context.Context, cfg Config, s session, stdout io.Writer, logger *slog.Logger) int {
	p, tr, agent := s.probe, s.tracker, s.agent
	agent.attached(true)
	logger.Info("attached", "version", Version, "go", runtime.Version(), "kernel", kernelRelease(),
		"btf", true, "ring_buffer", true, "hooks", strings.Join(p.Hooks(), ","),
		"prog_ids", joinIDs(p.ProgramIDs()),
		"min_age", cfg.MinAge, "ring_buffer_bytes", cfg.RingBufferSize,
		"action", cfg.Action.Mode, "dry_run", cfg.Action.DryRun, "metrics_addr", cfg.MetricsAddr)
	if err := tr.ScanExisting(); err != nil {
		logger.Warn("scan for existing zombies failed", "error", err)
	}
	if err := markReady(cfg.ReadyFile); err != nil {
		logger.Error("write ready file failed", "path", cfg.ReadyFile, "error", err)
		return ExitFailure
	}
	events := loop.New(p, tr, logger)
	if agent.metrics != nil {
		events.Observer = agent.metrics
	}
	if err := events.Run(ctx); err != nil {
		logger.Error("read events failed", "error", err)
		return ExitFailure
	}
	summary := events.Summary()
	if err := p.Close(); err != nil {
		logger.Warn("detach failed", "error", err)
	}
	agent.attached(false)
	logger.Info("detached")
	agent.stop()
	if err := report.WriteSummary(stdout, cfg.Output, summary); err != nil {
		logger.Error("write summary failed", "error", err)
		return ExitFailure
	}
	if err := s.records.writeErr(); err != nil {
		logger.Error("write records failed", "error", err)
		return ExitFailure
	}
	return ExitOK
}

func checkPrivileges(logger *slog.Logger) int {
	missing, err := probe.MissingCapabilities()
	if err != nil {
		logger.Error("check capabilities failed", "error", err)
		return ExitFailure
	}
	if len(missing) > 0 {
		logger.Error(fmt.Sprintf("zombietrace needs %s (or CAP_SYS_ADMIN) to load BPF programs: "+
			"run it as root or grant the capabilities", strings.Join(missing, " and ")))
		return ExitPrivileges
	}
	return ExitOK
}

func loadFailed(logger *slog.Logger, err error) int {
	switch {
	case errors.Is(err, probe.ErrNoBTF), errors.Is(err, probe.ErrNoRingBuffer),
		errors.Is(err, probe.ErrNoTracefs):
		logger.Error("kernel not supported: " + err.Error())
		return ExitUnsupported
	case errors.Is(err, probe.ErrPermission):
		logger.Error("loading BPF programs was not permitted: run as root, or with CAP_BPF, "+
			"CAP_PERFMON and CAP_SYS_RESOURCE", "error", err)
		return ExitPrivileges
	}
	logger.Error("load BPF programs failed", "error", err)
	return ExitFailure
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

func joinIDs(ids []uint32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatUint(uint64(id), 10)
	}
	return strings.Join(s, ",")
}

func markReady(path string) error {
	if path == "" {
		return nil
	}
	return os.WriteFile(path, []byte("attached\n"), 0o644)
}
