package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zombietrace/zombietrace/internal/report"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// newTestMetrics returns Metrics that read procfs and cgroups only below
// an empty temporary directory, so the host's processes never leak in.
func newTestMetrics(t *testing.T, opts Options) (*Metrics, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: epoch}
	empty := t.TempDir()
	if opts.ProcRoot == "" {
		opts.ProcRoot = empty
	}
	if opts.CgroupV2Root == "" {
		opts.CgroupV2Root = filepath.Join(empty, "no-cgroup2")
	}
	if opts.CgroupV1PidsRoot == "" {
		opts.CgroupV1PidsRoot = filepath.Join(empty, "no-pids")
	}
	opts.Now = clock.Now
	return New(opts), clock
}

type recordOption func(*report.Record)

func withVerdict(v string) recordOption {
	return func(r *report.Record) { r.Diagnosis = &report.Diagnosis{Verdict: v} }
}

func withPod(uid string) recordOption {
	return func(r *report.Record) {
		r.Container = &report.Container{Runtime: "containerd", ID: "c-" + uid, PodUID: uid}
	}
}

func withCgroup(path string) recordOption {
	return func(r *report.Record) { r.Cgroup = path }
}

// record returns a record about the zombie with pid, which died age ago
// under a parent named parentComm.
func record(typ string, pid uint32, parentComm string, age time.Duration, opts ...recordOption) report.Record {
	died := epoch.Add(-age)
	r := report.Record{
		Type:       typ,
		Time:       epoch,
		Zombie:     report.Process{PID: pid, NSPID: pid, StartTime: epoch.Add(-time.Hour), Comm: "child"},
		DiedAt:     &died,
		AgeSeconds: age.Seconds(),
		Parent:     &report.Process{PID: 1000, Comm: parentComm},
	}
	for _, o := range opts {
		o(&r)
	}
	return r
}

// scrape fetches /metrics in the text format and parses it strictly.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d, want 200", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

func labelsOf(m *dto.Metric) map[string]string {
	out := make(map[string]string)
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// value returns the value of the series of family name whose labels
// include want, and false when there is no such series.
func value(families map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf, ok := families[name]
	if !ok {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		labels := labelsOf(m)
		match := true
		for k, v := range want {
			if labels[k] != v {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		switch {
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Untyped != nil:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, families map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := value(families, name, want)
	if !ok {
		t.Fatalf("no series %s%v in the scrape", name, want)
	}
	return v
}

func TestObserveLingeringAndReaped(t *testing.T) {
	m, clock := newTestMetrics(t, Options{Version: "v1.2.3"})
	m.Observe(record(report.TypeLingering, 10, "bash", 30*time.Second, withVerdict("no_wait"), withPod("pod-a")))
	m.Observe(record(report.TypeLingering, 11, "bash", 90*time.Second, withVerdict("no_wait"), withPod("pod-a")))
	m.Observe(record(report.TypeLingering, 12, "python3", 10*time.Second))
	// A leader whose threads still run is not a zombie.
	threads := record(report.TypeLingering, 13, "java", 10*time.Second)
	threads.ThreadsAlive = true
	m.Observe(threads)
	clock.Advance(10 * time.Second)

	families := scrape(t, m)
	bashLabels := map[string]string{
		"parent_comm": "bash", "verdict": "no_wait", "container_runtime": "containerd",
		"container_id": "c-pod-a", "pod_uid": "pod-a",
	}
	if got := mustValue(t, families, NameLingeringZombies, bashLabels); got != 2 {
		t.Errorf("lingering zombies of bash = %v, want 2", got)
	}
	python := map[string]string{"parent_comm": "python3", "verdict": "unknown", "pod_uid": ""}
	if got := mustValue(t, families, NameLingeringZombies, python); got != 1 {
		t.Errorf("lingering zombies of python3 = %v, want 1", got)
	}
	if _, ok := value(families, NameLingeringZombies, map[string]string{"parent_comm": "java"}); ok {
		t.Errorf("a ThreadsAlive record was counted as a lingering zombie")
	}
	if got := mustValue(t, families, NameZombiesReported, nil); got != 3 {
		t.Errorf("%s = %v, want 3", NameZombiesReported, got)
	}
	if got := mustValue(t, families, NameOldestZombieAge, nil); got != 100 {
		t.Errorf("oldest zombie age = %v s, want 100", got)
	}
	info := map[string]string{"version": "v1.2.3"}
	if got := mustValue(t, families, NameBuildInfo, info); got != 1 {
		t.Errorf("%s = %v, want 1", NameBuildInfo, got)
	}

	// The reaped record of the same zombie (same PID and start time) ends it.
	m.Observe(record(report.TypeReaped, 11, "bash", 100*time.Second, withVerdict("no_wait"), withPod("pod-a")))
	m.Observe(record(report.TypeReaped, 12, "python3", 20*time.Second))
	families = scrape(t, m)
	if got := mustValue(t, families, NameLingeringZombies, bashLabels); got != 1 {
		t.Errorf("lingering zombies of bash after one reap = %v, want 1", got)
	}
	if _, ok := value(families, NameLingeringZombies, python); ok {
		t.Errorf("python3 series still exported after its only zombie was reaped")
	}
	if got := mustValue(t, families, NameZombiesReaped, nil); got != 2 {
		t.Errorf("%s = %v, want 2", NameZombiesReaped, got)
	}
	if got := mustValue(t, families, NameOldestZombieAge, nil); got != 40 {
		t.Errorf("oldest zombie age after reap = %v s, want 40", got)
	}
	hist := families[NameReapAge].GetMetric()[0].GetHistogram()
	if hist.GetSampleCount() != 2 {
		t.Errorf("reap age histogram count = %d, want 2", hist.GetSampleCount())
	}
	if hist.GetSampleSum() != 120 {
		t.Errorf("reap age histogram sum = %v, want 120", hist.GetSampleSum())
	}
	bounds := make([]float64, 0, len(hist.GetBucket()))
	for _, b := range hist.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	if bounds[0] != 1 || bounds[len(bounds)-2] != 86400 || !math.IsInf(bounds[len(bounds)-1], 1) {
		t.Errorf("reap age buckets %v, want 1 s to 86400 s and +Inf", bounds)
	}
}

func TestReapedSamePIDOtherStartTime(t *testing.T) {
	m, _ := newTestMetrics(t, Options{})
	m.Observe(record(report.TypeLingering, 10, "bash", time.Minute))
	reaped := record(report.TypeReaped, 10, "bash", time.Minute)
	reaped.Zombie.StartTime = reaped.Zombie.StartTime.Add(time.Second)
	m.Observe(reaped)

	families := scrape(t, m)
	if got := mustValue(t, families, NameLingeringZombies, map[string]string{"parent_comm": "bash"}); got != 1 {
		t.Errorf("lingering zombies = %v, want 1: a reaped record of another process with the same PID "+
			"must not end the zombie", got)
	}
}

func TestOldestAgeZeroWhenNone(t *testing.T) {
	m, _ := newTestMetrics(t, Options{})
	families := scrape(t, m)
	if got := mustValue(t, families, NameOldestZombieAge, nil); got != 0 {
		t.Errorf("oldest zombie age with no zombies = %v, want 0", got)
	}
}

func TestFoundAtStartAge(t *testing.T) {
	m, clock := newTestMetrics(t, Options{})
	r := record(report.TypeLingering, 20, "init", 0)
	r.DiedAt = nil
	r.FoundAtStart = true
	r.AgeSeconds = 7
	m.Observe(r)
	clock.Advance(3 * time.Second)
	families := scrape(t, m)
	if got := mustValue(t, families, NameOldestZombieAge, nil); got != 10 {
		t.Errorf("oldest age of a zombie found at start = %v, want 10 (7 s lower bound + 3 s)", got)
	}
}

func TestHandedOverMovesLabels(t *testing.T) {
	m, _ := newTestMetrics(t, Options{})
	m.Observe(record(report.TypeLingering, 30, "worker", time.Minute))
	m.Observe(record(report.TypeHandedOver, 30, "systemd", time.Minute))

	families := scrape(t, m)
	if _, ok := value(families, NameLingeringZombies, map[string]string{"parent_comm": "worker"}); ok {
		t.Errorf("zombie still counted under its old parent after the handover")
	}
	if got := mustValue(t, families, NameLingeringZombies, map[string]string{"parent_comm": "systemd"}); got != 1 {
		t.Errorf("lingering zombies of the new parent = %v, want 1", got)
	}
	if got := mustValue(t, families, NameZombiesHandedOver, nil); got != 1 {
		t.Errorf("%s = %v, want 1", NameZombiesHandedOver, got)
	}
	if got := mustValue(t, families, NameZombiesReported, nil); got != 1 {
		t.Errorf("%s = %v, want 1: a handover is not a new zombie", NameZombiesReported, got)
	}
}

func TestDuplicateLingeringCountedOnce(t *testing.T) {
	m, _ := newTestMetrics(t, Options{})
	m.Observe(record(report.TypeLingering, 40, "bash", time.Minute))
	m.Observe(record(report.TypeLingering, 40, "bash", time.Minute))
	families := scrape(t, m)
	if got := mustValue(t, families, NameLingeringZombies, map[string]string{"parent_comm": "bash"}); got != 1 {
		t.Errorf("lingering zombies = %v, want 1", got)
	}
	if got := mustValue(t, families, NameZombiesReported, nil); got != 1 {
		t.Errorf("%s = %v, want 1", NameZombiesReported, got)
	}
}

func TestCardinalityCap(t *testing.T) {
	const limit = 5
	m, _ := newTestMetrics(t, Options{MaxLabelSets: limit})
	for i := range 20 {
		m.Observe(record(report.TypeLingering, uint32(100+i), fmt.Sprintf("parent%d", i), time.Minute))
	}
	families := scrape(t, m)
	series := families[NameLingeringZombies].GetMetric()
	if len(series) != limit+1 {
		t.Fatalf("%d lingering series, want %d admitted label sets plus \"other\"", len(series), limit)
	}
	other := map[string]string{}
	for _, name := range lingeringLabels {
		other[name] = "other"
	}
	if got := mustValue(t, families, NameLingeringZombies, other); got != 15 {
		t.Errorf("zombies counted as other = %v, want 15", got)
	}
	if got := mustValue(t, families, NameLabelSetsOverflown, nil); got != 15 {
		t.Errorf("%s = %v, want 15", NameLabelSetsOverflown, got)
	}

	// Reaping every zombie of one admitted label set frees a place.
	m.Observe(record(report.TypeReaped, 100, "parent0", time.Minute))
	m.Observe(record(report.TypeLingering, 200, "newcomer", time.Minute))
	families = scrape(t, m)
	if got := mustValue(t, families, NameLingeringZombies, map[string]string{"parent_comm": "newcomer"}); got != 1 {
		t.Errorf("lingering zombies of a new parent after a place was freed = %v, want 1", got)
	}
	if n := len(families[NameLingeringZombies].GetMetric()); n != limit+1 {
		t.Errorf("%d lingering series after reap and new zombie, want %d", n, limit+1)
	}

	// Zombies counted as other leave the other series when reaped.
	for i := 5; i < 20; i++ {
		m.Observe(record(report.TypeReaped, uint32(100+i), fmt.Sprintf("parent%d", i), time.Minute))
	}
	families = scrape(t, m)
	if _, ok := value(families, NameLingeringZombies, other); ok {
		t.Errorf("other series still exported after all its zombies were reaped")
	}
}

func TestLostActionsAttached(t *testing.T) {
	m, _ := newTestMetrics(t, Options{})
	m.SetLost("exit", 3)
	m.SetLost("exit", 7)
	m.SetLost("exit", 5) // lower totals must not lower the counter
	m.SetLost("wait", 0)
	m.ObserveAction("signal_parent", "ok")
	m.ObserveAction("signal_parent", "ok")
	m.ObserveAction("signal_parent", "error")
	m.SetAttached(true)

	families := scrape(t, m)
	if got := mustValue(t, families, NameEventsLost, map[string]string{"kind": "exit"}); got != 7 {
		t.Errorf("lost exit events = %v, want 7", got)
	}
	if got := mustValue(t, families, NameEventsLost, map[string]string{"kind": "wait"}); got != 0 {
		t.Errorf("lost wait events = %v, want 0", got)
	}
	ok := map[string]string{"action": "signal_parent", "outcome": "ok"}
	if got := mustValue(t, families, NameActions, ok); got != 2 {
		t.Errorf("actions ok = %v, want 2", got)
	}
	failed := map[string]string{"action": "signal_parent", "outcome": "error"}
	if got := mustValue(t, families, NameActions, failed); got != 1 {
		t.Errorf("actions error = %v, want 1", got)
	}
	if got := mustValue(t, families, NameAttached, nil); got != 1 {
		t.Errorf("%s = %v, want 1", NameAttached, got)
	}
	m.SetAttached(false)
	families = scrape(t, m)
	if got := mustValue(t, families, NameAttached, nil); got != 0 {
		t.Errorf("%s after detach = %v, want 0", NameAttached, got)
	}
}

// feedEverything makes every metric that zombietrace defines export at
// least one series.
func feedEverything(t *testing.T) *Metrics {
	t.Helper()
	proc, cgroupRoot := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(cgroupRoot, "pod", "pids.current"), "3\n")
	writeFile(t, filepath.Join(cgroupRoot, "pod", "pids.max"), "max\n")
	m, _ := newTestMetrics(t, Options{MaxLabelSets: 1, ProcRoot: proc, CgroupV2Root: cgroupRoot})
	m.Observe(record(report.TypeLingering, 1, "a", time.Minute, withCgroup("/pod")))
	m.Observe(record(report.TypeLingering, 2, "b", time.Minute))
	m.Observe(record(report.TypeHandedOver, 2, "c", time.Minute))
	m.Observe(record(report.TypeReaped, 2, "c", time.Minute))
	m.SetLost("exit", 1)
	m.ObserveAction("signal_parent", "ok")
	m.SetAttached(true)
	m.Heartbeat(epoch)
	return m
}

func TestNamesMatchRegistry(t *testing.T) {
	families := scrape(t, feedEverything(t))
	var exported []string
	for name := range families {
		if strings.HasPrefix(name, "zombietrace_") {
			exported = append(exported, name)
		}
	}
	slices.Sort(exported)
	if !slices.Equal(exported, Names()) {
		t.Errorf("exported zombietrace metrics %v, want Names() %v", exported, Names())
	}
}

func TestMetricsLint(t *testing.T) {
	families := scrape(t, feedEverything(t))
	var own []*dto.MetricFamily
	for _, name := range Names() {
		own = append(own, families[name])
	}
	problems, err := promlint.NewWithMetricFamilies(own).Lint()
	if err != nil {
		t.Fatalf("lint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func writeFile(t *testing.T, name, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCgroupPidsLimitingAncestor(t *testing.T) {
	root := t.TempDir()
	// The pod cgroup limits; the container cgroup below it does not.
	writeFile(t, filepath.Join(root, "kubepods", "pids.current"), "500\n")
	writeFile(t, filepath.Join(root, "kubepods", "pids.max"), "100000\n")
	writeFile(t, filepath.Join(root, "kubepods", "pod-a", "pids.current"), "90\n")
	writeFile(t, filepath.Join(root, "kubepods", "pod-a", "pids.max"), "100\n")
	writeFile(t, filepath.Join(root, "kubepods", "pod-a", "ctr", "pids.current"), "80\n")
	writeFile(t, filepath.Join(root, "kubepods", "pod-a", "ctr", "pids.max"), "max\n")
	writeFile(t, filepath.Join(root, "free", "pids.current"), "4\n")
	writeFile(t, filepath.Join(root, "free", "pids.max"), "max\n")
	// Without pids files (controller not enabled) the cgroup is skipped.
	if err := os.MkdirAll(filepath.Join(root, "nopids"), 0o755); err != nil {
		t.Fatal(err)
	}
	m, _ := newTestMetrics(t, Options{CgroupV2Root: root})
	m.Observe(record(report.TypeLingering, 1, "sh", time.Minute, withPod("pod-a"), withCgroup("/kubepods/pod-a/ctr")))
	m.Observe(record(report.TypeLingering, 2, "sh", time.Minute, withCgroup("/free")))
	m.Observe(record(report.TypeLingering, 3, "sh", time.Minute, withCgroup("/nopids")))

	families := scrape(t, m)
	pod := map[string]string{"cgroup": "/kubepods/pod-a", "pod_uid": "pod-a"}
	if got := mustValue(t, families, NameCgroupPids, pod); got != 90 {
		t.Errorf("pids of the limiting pod cgroup = %v, want 90", got)
	}
	if got := mustValue(t, families, NameCgroupPidsMax, pod); got != 100 {
		t.Errorf("pids max of the limiting pod cgroup = %v, want 100", got)
	}
	free := map[string]string{"cgroup": "/free"}
	if got := mustValue(t, families, NameCgroupPidsMax, free); !math.IsInf(got, 1) {
		t.Errorf("pids max of an unlimited cgroup = %v, want +Inf", got)
	}
	if got := mustValue(t, families, NameCgroupPids, free); got != 4 {
		t.Errorf("pids of an unlimited cgroup = %v, want 4", got)
	}
	if n := len(families[NameCgroupPids].GetMetric()); n != 2 {
		t.Errorf("%d pids series, want 2 (the cgroup without pids files is skipped)", n)
	}
}

func TestCgroupV1FromProc(t *testing.T) {
	proc, pidsRoot := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(proc, "50", "cgroup"), "8:pids:/job\n0::/\n")
	writeFile(t, filepath.Join(pidsRoot, "job", "pids.current"), "12\n")
	writeFile(t, filepath.Join(pidsRoot, "job", "pids.max"), "16\n")
	m, _ := newTestMetrics(t, Options{ProcRoot: proc, CgroupV1PidsRoot: pidsRoot})
	m.Observe(record(report.TypeLingering, 50, "make", time.Minute, withCgroup("/")))

	families := scrape(t, m)
	job := map[string]string{"cgroup": "/job"}
	if got := mustValue(t, families, NameCgroupPids, job); got != 12 {
		t.Errorf("v1 pids current = %v, want 12", got)
	}
	if got := mustValue(t, families, NameCgroupPidsMax, job); got != 16 {
		t.Errorf("v1 pids max = %v, want 16", got)
	}
}

func TestFindCgroupMounts(t *testing.T) {
	mountinfo := filepath.Join(t.TempDir(), "mountinfo")
	writeFile(t, mountinfo, strings.Join([]string{
		"31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
		"35 31 0:32 / /sys/fs/cgroup/memory rw,relatime shared:5 - cgroup cgroup rw,memory",
		"39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
		"41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
		"42 31 0:39 / /other/cgroup2 rw,relatime - cgroup2 cgroup2 rw",
	}, "\n")+"\n")
	v2, v1 := findCgroupMounts(mountinfo)
	if v2 != "/sys/fs/cgroup/unified" {
		t.Errorf("cgroup2 mount = %q, want /sys/fs/cgroup/unified", v2)
	}
	if v1 != "/sys/fs/cgroup/pids" {
		t.Errorf("cgroup v1 pids mount = %q, want /sys/fs/cgroup/pids", v1)
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(body)
}

func TestHealthTransitions(t *testing.T) {
	m, clock := newTestMetrics(t, Options{})
	h := m.Handler()
	steps := []struct {
		name          string
		do            func()
		health, ready int
	}{
		{"before attach", func() {}, 503, 503},
		{"just attached", func() { m.SetAttached(true) }, 200, 200},
		{"attached 9s without heartbeat", func() { clock.Advance(9 * time.Second) }, 200, 200},
		{"attached 11s without heartbeat", func() { clock.Advance(2 * time.Second) }, 503, 200},
		{"heartbeat", func() { m.Heartbeat(clock.Now()) }, 200, 200},
		{"heartbeat 10s old", func() { clock.Advance(10 * time.Second) }, 200, 200},
		{"heartbeat 11s old", func() { clock.Advance(time.Second) }, 503, 200},
		{"older heartbeat ignored", func() { m.Heartbeat(clock.Now().Add(-time.Minute)) }, 503, 200},
		{"heartbeat resumes", func() { m.Heartbeat(clock.Now()) }, 200, 200},
		{"detached", func() { m.SetAttached(false) }, 503, 503},
	}
	for _, s := range steps {
		s.do()
		if code, body := get(t, h, "/healthz"); code != s.health {
			t.Errorf("%s: /healthz = %d %q, want %d", s.name, code, body, s.health)
		}
		if code, body := get(t, h, "/readyz"); code != s.ready {
			t.Errorf("%s: /readyz = %d %q, want %d", s.name, code, body, s.ready)
		}
	}
}

func TestHeartbeatGauge(t *testing.T) {
	m, _ := newTestMetrics(t, Options{})
	m.Heartbeat(epoch)
	families := scrape(t, m)
	if got := mustValue(t, families, NameHeartbeat, nil); got != float64(epoch.Unix()) {
		t.Errorf("%s = %v, want %d", NameHeartbeat, got, epoch.Unix())
	}
}

// logAddr captures the address that Serve logs.
type logAddr struct {
	mu    sync.Mutex
	lines []string
}

func (l *logAddr) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

func (l *logAddr) addr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, line := range l.lines {
		var entry struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "serving metrics" {
			return entry.Addr
		}
	}
	return ""
}

func TestServeShutsDownOnCancel(t *testing.T) {
	m, _ := newTestMetrics(t, Options{})
	m.SetAttached(true)
	logs := &logAddr{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, "127.0.0.1:0", slogJSON(logs)) }()

	var addr string
	for deadline := time.Now().Add(5 * time.Second); addr == "" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		addr = logs.addr()
	}
	if addr == "" {
		cancel()
		t.Fatalf("Serve did not log its address within 5 s")
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", path, resp.StatusCode)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve returned %v after cancel, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Serve did not return within 10 s of cancel")
	}
	if _, err := http.Get("http://" + addr + "/metrics"); err == nil {
		t.Errorf("server still answers after Serve returned")
	}
}

func TestServeListenError(t *testing.T) {
	m, _ := newTestMetrics(t, Options{})
	err := m.Serve(context.Background(), "127.0.0.1:-1", nil)
	if err == nil {
		t.Fatalf("Serve on an invalid port returned nil, want an error")
	}
}

func slogJSON(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

func TestObserveWhileScraping(t *testing.T) {
	m, _ := newTestMetrics(t, Options{MaxLabelSets: 10})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 500 {
			pid := uint32(1000 + i)
			m.Observe(record(report.TypeLingering, pid, fmt.Sprintf("p%d", i%20), time.Minute))
			m.SetLost("exit", uint64(i))
			m.Heartbeat(epoch.Add(time.Duration(i) * time.Millisecond))
			if i%2 == 0 {
				m.Observe(record(report.TypeReaped, pid, fmt.Sprintf("p%d", i%20), time.Minute))
			}
		}
	}()
	for range 20 {
		scrape(t, m)
	}
	<-done
	families := scrape(t, m)
	total := 0.0
	for _, series := range families[NameLingeringZombies].GetMetric() {
		total += series.GetGauge().GetValue()
	}
	if total != 250 {
		t.Errorf("lingering zombies summed over all series = %v, want 250", total)
	}
}
