package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// HeartbeatTimeout is the maximum age of the last heartbeat before /healthz
// fails, because the event loop has then stopped draining the ring buffer.
const HeartbeatTimeout = 10 * time.Second

// shutdownTimeout bounds how long Serve waits for open requests when its
// context ends.
const shutdownTimeout = 5 * time.Second

// Handler returns the HTTP handler for /metrics (the Prometheus text and
// protobuf formats), /healthz and /readyz.
//
// /healthz returns 200 while the BPF programs are attached and the last
// heartbeat is at most HeartbeatTimeout old, and 503 otherwise.
// /readyz returns 200 while the programs are attached, and 503 otherwise.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		Registry:          m.registry,
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET /healthz", m.serveHealth)
	mux.HandleFunc("GET /readyz", m.serveReady)
	return mux
}

// health returns "" when healthy, or why not.
func (m *Metrics) health() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.attached {
		return "BPF programs not attached"
	}
	last := m.heartbeat
	if m.attachedAt.After(last) {
		last = m.attachedAt
	}
	if age := m.opts.Now().Sub(last); age > HeartbeatTimeout {
		return fmt.Sprintf("no heartbeat from the event loop for %s: ring buffer not drained",
			age.Round(time.Second))
	}
	return ""
}

func (m *Metrics) serveHealth(w http.ResponseWriter, _ *http.Request) {
	if reason := m.health(); reason != "" {
		http.Error(w, reason, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

func (m *Metrics) serveReady(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	attached := m.attached
	m.mu.Unlock()
	if !attached {
		http.Error(w, "BPF programs not attached", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// Serve listens on addr and serves Handler until ctx ends, then shuts the
// server down, waiting up to 5 s for open requests. It returns nil after a
// shutdown caused by ctx, and an error when it cannot listen or serve.
func (m *Metrics) Serve(ctx context.Context, addr string, logger *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen for metrics on %s: %w", addr, err)
	}
	return m.ServeListener(ctx, ln, logger)
}

// ServeListener is Serve on a listener that the caller opened, so that a
// bad address or a port in use fails at start, before the probes attach.
// It closes ln.
func (m *Metrics) ServeListener(ctx context.Context, ln net.Listener, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("serving metrics", "addr", ln.Addr().String())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("metrics server shutdown timed out; closing open connections", "error", err)
		srv.Close()
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve metrics on %s: %w", ln.Addr(), err)
	}
	logger.Info("metrics server stopped", "addr", ln.Addr().String())
	return nil
}
