package cli

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"github.com/zombietrace/zombietrace/internal/action"
	"github.com/zombietrace/zombietrace/internal/kube"
	"github.com/zombietrace/zombietrace/internal/metrics"
)

// agent is the set of services beside the tracer: the metrics server, the
// pod lookup and the action engine. Each part is off unless its flag is set.
type agent struct {
	metrics *metrics.Metrics // nil without --metrics-addr
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once
}

func startAgent(parent context.Context, cfg Config, records *sink, logger *slog.Logger) (*agent, error) {
	ctx, cancel := context.WithCancel(parent)
	a := &agent{cancel: cancel}
	if cfg.MetricsAddr != "" {
		opts := metrics.Options{Version: Version}
		if cfg.Kubernetes {
			pods, err := kube.NewInClusterResolver()
			if err != nil {
				cancel()
				return nil, fmt.Errorf("start Kubernetes pod lookup: %w", err)
			}
			pods.Start(ctx)
			opts.PodLookup = func(uid string) (string, string, bool) {
				pod, ok := pods.Pod(uid)
				return pod.Namespace, pod.Name, ok
			}
		}
		a.metrics = metrics.New(opts)
		records.observers = append(records.observers, a.metrics.Observe)
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", cfg.MetricsAddr)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("listen on --metrics-addr %s: %w", cfg.MetricsAddr, err)
		}
		a.goRun(func() {
			if err := a.metrics.ServeListener(ctx, ln, logger); err != nil {
				logger.Error("metrics server failed", "addr", cfg.MetricsAddr, "error", err)
			}
		})
	}
	if cfg.Action.Mode != action.ModeOff {
		actCfg := *cfg.Action
		actCfg.Logger = logger
		actCfg.Emit = records.write
		if a.metrics != nil {
			actCfg.OnAction = a.metrics.ObserveAction
		}
		engine, err := action.New(actCfg)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("start actions: %w", err)
		}
		records.observers = append(records.observers, engine.Observe)
		a.goRun(func() { engine.Run(ctx) })
	}
	return a, nil
}

func (a *agent) goRun(fn func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		fn()
	}()
}

func (a *agent) attached(on bool) {
	if a.metrics != nil {
		a.metrics.SetAttached(on)
	}
}

// stop ends the metrics server and the action engine, letting actions in
// flight finish. It is safe to call more than once.
func (a *agent) stop() {
	a.once.Do(func() {
		a.cancel()
		a.wg.Wait()
	})
}
