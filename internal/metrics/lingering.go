package metrics

import (
	"time"

	"github.com/zombietrace/zombietrace/internal/report"
)

// otherValue replaces every label value of a zombie whose label set did not
// fit under the cap.
const otherValue = "other"

// unknownVerdict is the verdict label of a record without a diagnosis.
const unknownVerdict = "unknown"

// lingeringLabels are the label names of zombietrace_lingering_zombies, in
// the order of the labelSet fields.
var lingeringLabels = []string{
	"parent_comm", "verdict", "container_runtime", "container_id", "pod_uid",
	"pod_namespace", "pod_name",
}

// labelSet is one combination of label values of the lingering gauge.
type labelSet struct {
	parentComm, verdict, runtime, containerID, podUID, podNamespace, podName string
}

func (l labelSet) values() []string {
	return []string{l.parentComm, l.verdict, l.runtime, l.containerID, l.podUID, l.podNamespace, l.podName}
}

var otherLabels = labelSet{otherValue, otherValue, otherValue, otherValue, otherValue, otherValue, otherValue}

// zombieKey identifies a zombie. The start time distinguishes two processes
// that had the same PID at different times.
type zombieKey struct {
	pid       uint32
	startTime int64 // Unix nanoseconds
}

func keyOf(p report.Process) zombieKey {
	return zombieKey{pid: p.PID, startTime: p.StartTime.UnixNano()}
}

// zombie is the state kept about one lingering zombie.
type zombie struct {
	labels labelSet
	// died is when the zombie exited or, for one found at start, when
	// zombietrace started.
	died time.Time
	// cgroup locates the zombie's cgroup for the pids counters.
	cgroup cgroupRef
	podUID string
}

// newZombie builds the entry for record r. It must be called with m.mu held.
func (m *Metrics) newZombie(r report.Record) zombie {
	z := zombie{labels: labelSet{verdict: unknownVerdict}}
	if r.Parent != nil {
		z.labels.parentComm = r.Parent.Comm
	}
	if r.Diagnosis != nil && r.Diagnosis.Verdict != "" {
		z.labels.verdict = r.Diagnosis.Verdict
	}
	if c := r.Container; c != nil {
		z.labels.runtime = c.Runtime
		z.labels.containerID = c.ID
		z.labels.podUID = c.PodUID
		z.podUID = c.PodUID
		if c.PodUID != "" && m.opts.PodLookup != nil {
			if ns, name, ok := m.opts.PodLookup(c.PodUID); ok {
				z.labels.podNamespace = ns
				z.labels.podName = name
			}
		}
	}
	if r.DiedAt != nil {
		z.died = *r.DiedAt
	} else {
		z.died = r.Time.Add(-time.Duration(r.AgeSeconds * float64(time.Second)))
	}
	z.cgroup = m.pids.locate(r)
	return z
}

// lingeringSet holds the zombies that are lingering now and the label sets
// admitted under the cardinality cap. A label set is admitted while at
// least one zombie uses it, so the cap bounds the label sets exported at
// one time, not over the whole run.
type lingeringSet struct {
	maxLabelSets int
	zombies      map[zombieKey]zombie
	// admitted counts the zombies of each admitted label set.
	admitted map[labelSet]int
}

func newLingeringSet(maxLabelSets int) *lingeringSet {
	return &lingeringSet{
		maxLabelSets: maxLabelSets,
		zombies:      make(map[zombieKey]zombie),
		admitted:     make(map[labelSet]int),
	}
}

func (s *lingeringSet) contains(key zombieKey) bool {
	_, ok := s.zombies[key]
	return ok
}

// add stores z under key. It returns true when the label set cap was
// reached and z is counted under otherLabels.
func (s *lingeringSet) add(key zombieKey, z zombie) (overflow bool) {
	if _, ok := s.admitted[z.labels]; !ok && len(s.admitted) >= s.maxLabelSets {
		z.labels = otherLabels
		overflow = true
	}
	if z.labels != otherLabels {
		s.admitted[z.labels]++
	}
	s.zombies[key] = z
	return overflow
}

// update replaces the entry of a zombie whose parent changed.
func (s *lingeringSet) update(key zombieKey, z zombie) (overflow bool) {
	s.remove(key)
	return s.add(key, z)
}

func (s *lingeringSet) remove(key zombieKey) {
	z, ok := s.zombies[key]
	if !ok {
		return
	}
	delete(s.zombies, key)
	if z.labels == otherLabels {
		return
	}
	s.admitted[z.labels]--
	if s.admitted[z.labels] <= 0 {
		delete(s.admitted, z.labels)
	}
}

// counts returns the number of zombies per label set.
func (s *lingeringSet) counts() map[labelSet]int {
	out := make(map[labelSet]int, len(s.admitted)+1)
	for _, z := range s.zombies {
		out[z.labels]++
	}
	return out
}

// oldestDeath returns the earliest death time, and false when the set is
// empty.
func (s *lingeringSet) oldestDeath() (time.Time, bool) {
	var oldest time.Time
	found := false
	for _, z := range s.zombies {
		if !found || z.died.Before(oldest) {
			oldest = z.died
			found = true
		}
	}
	return oldest, found
}
