package metrics

import (
	"maps"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	lingeringDesc = prometheus.NewDesc(NameLingeringZombies,
		"Zombies lingering now, by parent command, verdict, container and pod. "+
			"Label values are \"other\" beyond the label set cap.",
		lingeringLabels, nil)
	oldestDesc = prometheus.NewDesc(NameOldestZombieAge,
		"Age of the oldest lingering zombie in seconds, 0 when none lingers.", nil, nil)
	lostDesc = prometheus.NewDesc(NameEventsLost,
		"Events the kernel could not put into the full ring buffer, by event kind.",
		[]string{"kind"}, nil)
	pidsDesc = prometheus.NewDesc(NameCgroupPids,
		"pids.current of each cgroup that limits a cgroup holding zombies: the zombie's own cgroup, "+
			"or the ancestor whose pids.max is the nearest to being reached.",
		[]string{"cgroup", "pod_uid"}, nil)
	pidsMaxDesc = prometheus.NewDesc(NameCgroupPidsMax,
		"pids.max of the same cgroups as "+NameCgroupPids+"; +Inf when the limit is \"max\".",
		[]string{"cgroup", "pod_uid"}, nil)
)

// scrapeCollector computes at scrape time the metrics that derive from the
// lingering set, the lost-event counters and the cgroup pids files.
type scrapeCollector struct{ m *Metrics }

func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lingeringDesc
	ch <- oldestDesc
	ch <- lostDesc
	ch <- pidsDesc
	ch <- pidsMaxDesc
}

func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	counts := m.zombies.counts()
	oldest, found := m.zombies.oldestDeath()
	lost := maps.Clone(m.lost)
	refs := m.pidsRefs()
	now := m.opts.Now()
	m.mu.Unlock()

	for labels, n := range counts {
		ch <- prometheus.MustNewConstMetric(lingeringDesc, prometheus.GaugeValue, float64(n), labels.values()...)
	}
	age := 0.0
	if found {
		age = max(now.Sub(oldest).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, age)
	for kind, n := range lost {
		ch <- prometheus.MustNewConstMetric(lostDesc, prometheus.CounterValue, float64(n), kind)
	}
	c.collectPids(ch, refs)
}

// pidsRefs returns the distinct cgroups of lingering zombies, at most
// MaxLabelSets of them, each with the pod UID of its zombies ("" when they
// differ). It must be called with m.mu held.
func (m *Metrics) pidsRefs() map[cgroupRef]string {
	refs := make(map[cgroupRef]string)
	for _, z := range m.zombies.zombies {
		if !z.cgroup.valid() {
			continue
		}
		uid, seen := refs[z.cgroup]
		switch {
		case !seen && len(refs) >= m.opts.MaxLabelSets:
			continue
		case !seen:
			refs[z.cgroup] = z.podUID
		case uid != z.podUID:
			refs[z.cgroup] = ""
		}
	}
	return refs
}

// collectPids reads the pids files outside the lock, because they are on
// a file system. Two zombie cgroups can share the limiting ancestor, which
// is then exported once.
func (c *scrapeCollector) collectPids(ch chan<- prometheus.Metric, refs map[cgroupRef]string) {
	type series struct {
		usage  pidsUsage
		podUID string
	}
	byPath := make(map[string]series)
	for ref, podUID := range refs {
		u, ok := c.m.pids.limiting(ref)
		if !ok {
			continue
		}
		if prev, seen := byPath[u.path]; seen && prev.podUID != podUID {
			podUID = ""
		}
		byPath[u.path] = series{usage: u, podUID: podUID}
	}
	for _, p := range slices.Sorted(maps.Keys(byPath)) {
		s := byPath[p]
		ch <- prometheus.MustNewConstMetric(pidsDesc, prometheus.GaugeValue, s.usage.current, p, s.podUID)
		ch <- prometheus.MustNewConstMetric(pidsMaxDesc, prometheus.GaugeValue, s.usage.max, p, s.podUID)
	}
}
