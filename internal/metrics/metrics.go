// Package metrics exports the zombies and events that zombietrace traces as
// Prometheus metrics, and serves them over HTTP together with the /healthz
// and /readyz endpoints that a Kubernetes DaemonSet probes.
package metrics

import (
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/zombietrace/zombietrace/internal/report"
)

// Metric names. Every metric that zombietrace itself defines is listed
// here, so that dashboards and alerts can be checked against them.
const (
	NameLingeringZombies   = "zombietrace_lingering_zombies"
	NameOldestZombieAge    = "zombietrace_oldest_lingering_zombie_age_seconds"
	NameZombiesReported    = "zombietrace_zombies_reported_total"
	NameZombiesReaped      = "zombietrace_zombies_reaped_total"
	NameZombiesHandedOver  = "zombietrace_zombies_handed_over_total"
	NameReapAge            = "zombietrace_reaped_zombie_age_seconds"
	NameEventsLost         = "zombietrace_events_lost_total"
	NameActions            = "zombietrace_actions_total"
	NameBuildInfo          = "zombietrace_build_info"
	NameAttached           = "zombietrace_bpf_attached"
	NameHeartbeat          = "zombietrace_last_heartbeat_timestamp_seconds"
	NameCgroupPids         = "zombietrace_cgroup_pids"
	NameCgroupPidsMax      = "zombietrace_cgroup_pids_max"
	NameLabelSetsOverflown = "zombietrace_label_sets_overflow_total"
)

// Names returns the names of the metrics that zombietrace defines, sorted.
// The Go runtime and process metrics (go_*, process_*) are not included.
func Names() []string {
	names := []string{
		NameLingeringZombies, NameOldestZombieAge, NameZombiesReported,
		NameZombiesReaped, NameZombiesHandedOver, NameReapAge, NameEventsLost,
		NameActions, NameBuildInfo, NameAttached, NameHeartbeat,
		NameCgroupPids, NameCgroupPidsMax, NameLabelSetsOverflown,
	}
	slices.Sort(names)
	return names
}

// DefaultMaxLabelSets is the default Options.MaxLabelSets.
const DefaultMaxLabelSets = 200

// reapAgeBuckets are the upper bounds, in seconds, of the histogram of
// zombie ages at reap: from 1 s to one day.
var reapAgeBuckets = []float64{1, 5, 10, 30, 60, 300, 600, 1800, 3600, 7200, 21600, 43200, 86400}

// Options configures Metrics.
type Options struct {
	// MaxLabelSets caps the distinct label sets of the lingering-zombie
	// gauge, and separately the cgroups whose pids counters are exported.
	// A zombie that would add a label set beyond the cap is counted with
	// every label set to "other". Zero means DefaultMaxLabelSets.
	MaxLabelSets int
	// Version is exported in zombietrace_build_info.
	Version string
	// PodLookup, when set, resolves a pod UID to the pod's namespace and
	// name for the pod_namespace and pod_name labels. It is called from
	// Observe, so it must not block.
	PodLookup func(uid string) (namespace, name string, ok bool)
	// ProcRoot is the procfs mount point. Default "/proc".
	ProcRoot string
	// CgroupV2Root is the cgroup2 mount that Record.Cgroup is relative
	// to. Default: the first cgroup2 mount in ProcRoot/self/mountinfo,
	// which is the mount the tracker resolves cgroup IDs against.
	CgroupV2Root string
	// CgroupV1PidsRoot is the mount of the cgroup v1 pids controller,
	// used when a record has no cgroup v2 path. Default: found in
	// ProcRoot/self/mountinfo.
	CgroupV1PidsRoot string
	// Now returns the current time. Default time.Now; tests replace it.
	Now func() time.Time
}

// Metrics holds zombietrace's metrics in their own registry. Its methods
// are safe for concurrent use: the event loop records while the HTTP
// server scrapes.
type Metrics struct {
	opts     Options
	registry *prometheus.Registry

	reported   prometheus.Counter
	reaped     prometheus.Counter
	handedOver prometheus.Counter
	reapAge    prometheus.Histogram
	actions    *prometheus.CounterVec
	overflow   prometheus.Counter
	attachedG  prometheus.Gauge
	heartbeatG prometheus.Gauge

	mu         sync.Mutex
	zombies    *lingeringSet
	lost       map[string]uint64
	attached   bool
	attachedAt time.Time
	heartbeat  time.Time
	pids       *pidsReader
}

// New returns Metrics with its own registry, which also holds the Go
// runtime and process collectors.
func New(opts Options) *Metrics {
	if opts.MaxLabelSets <= 0 {
		opts.MaxLabelSets = DefaultMaxLabelSets
	}
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Version == "" {
		opts.Version = "unknown"
	}
	m := &Metrics{
		opts:     opts,
		registry: prometheus.NewRegistry(),
		zombies:  newLingeringSet(opts.MaxLabelSets),
		lost:     make(map[string]uint64),
		pids:     newPidsReader(opts),
	}
	m.createMetrics()

	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        NameBuildInfo,
		Help:        "Always 1, labelled with the zombietrace version and the Go version it was built with.",
		ConstLabels: prometheus.Labels{"version": opts.Version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)

	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.reported, m.reaped, m.handedOver, m.reapAge, m.actions, m.overflow,
		m.attachedG, m.heartbeatG, buildInfo,
		&scrapeCollector{m: m},
	)
	return m
}

// createMetrics creates the metrics that the Observe and Set methods update.
func (m *Metrics) createMetrics() {
	m.reported = prometheus.NewCounter(prometheus.CounterOpts{
		Name: NameZombiesReported,
		Help: "Zombies reported as lingering: unreaped past the minimum age, or found at start.",
	})
	m.reaped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: NameZombiesReaped,
		Help: "Lingering zombies that were later reaped or released.",
	})
	m.handedOver = prometheus.NewCounter(prometheus.CounterOpts{
		Name: NameZombiesHandedOver,
		Help: "Times a lingering zombie was handed to a new parent because its parent exited.",
	})
	m.reapAge = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: NameReapAge,
		Help: "Age of lingering zombies when they were reaped, in seconds " +
			"(for zombies found at start, the time since zombietrace started).",
		Buckets: reapAgeBuckets,
	})
	m.actions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: NameActions,
		Help: "Actions zombietrace took on zombies or their parents, by action and outcome.",
	}, []string{"action", "outcome"})
	m.overflow = prometheus.NewCounter(prometheus.CounterOpts{
		Name: NameLabelSetsOverflown,
		Help: "Zombies counted under the label value \"other\" because the label set cap was reached.",
	})
	m.attachedG = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: NameAttached,
		Help: "1 while the BPF programs are attached, 0 otherwise.",
	})
	m.heartbeatG = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: NameHeartbeat,
		Help: "Unix time of the last heartbeat of the event loop that drains the ring buffer.",
	})
}

// Registry returns the registry that holds every metric, for callers that
// add their own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Observe records one record that the tracker emitted. Lingering records
// with ThreadsAlive set describe a thread-group leader whose threads still
// run. Such a leader is not a zombie yet, so they are ignored.
func (m *Metrics) Observe(r report.Record) {
	if r.ThreadsAlive {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	key := keyOf(r.Zombie)
	switch r.Type {
	case report.TypeLingering:
		if m.zombies.contains(key) {
			return
		}
		z := m.newZombie(r)
		if overflow := m.zombies.add(key, z); overflow {
			m.overflow.Inc()
		}
		m.reported.Inc()
	case report.TypeReaped:
		m.zombies.remove(key)
		m.reaped.Inc()
		m.reapAge.Observe(r.AgeSeconds)
	case report.TypeHandedOver:
		if m.zombies.contains(key) {
			if overflow := m.zombies.update(key, m.newZombie(r)); overflow {
				m.overflow.Inc()
			}
		}
		m.handedOver.Inc()
	}
}

// SetLost sets the cumulative count of events of kind that the kernel
// could not put into the ring buffer. A total lower than the one already
// stored is ignored, so the exported counter never goes down.
func (m *Metrics) SetLost(kind string, total uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if total > m.lost[kind] {
		m.lost[kind] = total
	} else if _, ok := m.lost[kind]; !ok {
		m.lost[kind] = total
	}
}

// ObserveAction counts one action and its outcome, such as
// ("signal_parent", "ok").
func (m *Metrics) ObserveAction(action, outcome string) {
	m.actions.WithLabelValues(action, outcome).Inc()
}

// SetAttached records whether the BPF programs are attached. Attaching
// also counts as a heartbeat, so /healthz is healthy until the event loop
// has had time to send its first one.
func (m *Metrics) SetAttached(attached bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if attached && !m.attached {
		m.attachedAt = m.opts.Now()
	}
	m.attached = attached
	if attached {
		m.attachedG.Set(1)
	} else {
		m.attachedG.Set(0)
	}
}

// Heartbeat records that the event loop is draining the ring buffer at t.
// /healthz fails when no heartbeat arrived for HeartbeatTimeout.
func (m *Metrics) Heartbeat(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.After(m.heartbeat) {
		m.heartbeat = t
		m.heartbeatG.Set(float64(t.UnixNano()) / 1e9)
	}
}
