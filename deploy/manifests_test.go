// Package deploy holds the Kubernetes manifests, the Prometheus rules and
// the Grafana dashboard. Its test checks them against the Kubernetes API
// types and against the metrics that zombietrace registers.
package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/zombietrace/zombietrace/internal/metrics"
)

// baseCapabilities are the only capabilities of the read-only DaemonSet.
var baseCapabilities = []corev1.Capability{"BPF", "PERFMON", "SYS_RESOURCE"}

// actionCapabilities are the capabilities of the variant that acts.
var actionCapabilities = []corev1.Capability{"BPF", "PERFMON", "SYS_RESOURCE", "SYS_PTRACE", "KILL"}

// readOnlyHostPaths are the host directories the DaemonSet mounts, all
// read-only.
var readOnlyHostPaths = []string{"/sys/fs/cgroup", "/sys/kernel/btf", "/sys/kernel/tracing"}

// splitDocuments splits a YAML stream at its "---" separator lines.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) != "" {
			docs = append(docs, []byte(doc))
		}
	}
	return docs
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// decodeStrict decodes a Kubernetes object of a built-in type, rejecting
// unknown and duplicate fields.
func decodeStrict(t *testing.T, name string, doc []byte) runtime.Object {
	t.Helper()
	serializer := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	obj, _, err := serializer.Decode(doc, nil, nil)
	if err != nil {
		t.Fatalf("%s: strict decoding failed: %v", name, err)
	}
	return obj
}

// decodeUnstructured decodes a custom resource strictly as YAML (no
// duplicate keys) into a generic map.
func decodeUnstructured(t *testing.T, name string, doc []byte) map[string]any {
	t.Helper()
	data, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		t.Fatalf("%s: invalid YAML: %v", name, err)
	}
	var obj map[string]any
	if err := json.Unmarshal(data, &obj); err != nil {
		t.Fatalf("%s: invalid object: %v", name, err)
	}
	return obj
}

// manifests holds every object of the base deployment.
type manifests struct {
	daemonSet      *appsv1.DaemonSet
	service        *corev1.Service
	clusterRole    *rbacv1.ClusterRole
	binding        *rbacv1.ClusterRoleBinding
	serviceAccount *corev1.ServiceAccount
	custom         map[string]map[string]any // by kind
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	m := manifests{custom: make(map[string]map[string]any)}
	for _, file := range []string{"daemonset.yaml", "servicemonitor.yaml", "prometheusrule.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitDocuments(data) {
			name := file + " document " + strconv.Itoa(i+1)
			var meta struct{ APIVersion, Kind string }
			if err := yaml.Unmarshal(doc, &meta); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if strings.HasPrefix(meta.APIVersion, "monitoring.coreos.com/") {
				m.custom[meta.Kind] = decodeUnstructured(t, name, doc)
				continue
			}
			switch obj := decodeStrict(t, name, doc).(type) {
			case *appsv1.DaemonSet:
				m.daemonSet = obj
			case *corev1.Service:
				m.service = obj
			case *rbacv1.ClusterRole:
				m.clusterRole = obj
			case *rbacv1.ClusterRoleBinding:
				m.binding = obj
			case *corev1.ServiceAccount:
				m.serviceAccount = obj
			case *corev1.Namespace:
			default:
				t.Errorf("%s: unexpected kind %s", name, meta.Kind)
			}
		}
	}
	if m.daemonSet == nil || m.service == nil || m.clusterRole == nil || m.binding == nil || m.serviceAccount == nil {
		t.Fatalf("missing objects: DaemonSet, Service, ClusterRole, ClusterRoleBinding and ServiceAccount are required")
	}
	return m
}

func container(t *testing.T, ds *appsv1.DaemonSet) corev1.Container {
	t.Helper()
	containers := ds.Spec.Template.Spec.Containers
	if len(containers) != 1 {
		t.Fatalf("DaemonSet has %d containers, want 1", len(containers))
	}
	return containers[0]
}

func TestStrictDecodingRejectsUnknownField(t *testing.T) {
	doc := []byte("apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: x\nautomountToken: true\n")
	serializer := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	if _, _, err := serializer.Decode(doc, nil, nil); err == nil {
		t.Errorf("strict decoding accepted the unknown field automountToken")
	}
	if _, err := yaml.YAMLToJSONStrict([]byte("a: 1\na: 2\n")); err == nil {
		t.Errorf("strict YAML accepted a duplicate key")
	}
}

func TestDaemonSetPod(t *testing.T) {
	m := loadManifests(t)
	pod := m.daemonSet.Spec.Template.Spec
	if !pod.HostPID {
		t.Errorf("hostPID is false, want true: zombietrace must see the host's processes")
	}
	if pod.HostNetwork {
		t.Errorf("hostNetwork is true, want false")
	}
	if pod.ServiceAccountName != m.serviceAccount.Name {
		t.Errorf("service account %q, want %q", pod.ServiceAccountName, m.serviceAccount.Name)
	}
	labels := m.daemonSet.Spec.Template.Labels
	for k, v := range m.daemonSet.Spec.Selector.MatchLabels {
		if labels[k] != v {
			t.Errorf("pod template label %s=%q does not match the selector's %q", k, labels[k], v)
		}
	}
	annotations := m.daemonSet.Spec.Template.Annotations
	if annotations["prometheus.io/scrape"] != "true" {
		t.Errorf("annotation prometheus.io/scrape = %q, want true", annotations["prometheus.io/scrape"])
	}
	if annotations["prometheus.io/port"] != "9476" {
		t.Errorf("annotation prometheus.io/port = %q, want 9476", annotations["prometheus.io/port"])
	}
}

func TestDaemonSetSecurityContext(t *testing.T) {
	c := container(t, loadManifests(t).daemonSet)
	sc := c.SecurityContext
	if sc == nil {
		t.Fatalf("container has no securityContext")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Errorf("container is privileged")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation is not false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("readOnlyRootFilesystem is not true")
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Errorf("runAsUser is not 0")
	}
	if sc.Capabilities == nil {
		t.Fatalf("no capabilities")
	}
	if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities.drop = %v, want [ALL]", sc.Capabilities.Drop)
	}
	if !slices.Equal(sc.Capabilities.Add, baseCapabilities) {
		t.Errorf("capabilities.add = %v, want %v", sc.Capabilities.Add, baseCapabilities)
	}
}

func TestDaemonSetContainer(t *testing.T) {
	c := container(t, loadManifests(t).daemonSet)
	for _, arg := range []string{"--metrics-addr=:9476", "--output=json"} {
		if !slices.Contains(c.Args, arg) {
			t.Errorf("args %v lack %s", c.Args, arg)
		}
	}
	nodeName := false
	for _, env := range c.Env {
		if env.Name == "NODE_NAME" && env.ValueFrom != nil && env.ValueFrom.FieldRef != nil &&
			env.ValueFrom.FieldRef.FieldPath == "spec.nodeName" {
			nodeName = true
		}
	}
	if !nodeName {
		t.Errorf("no NODE_NAME from the downward API field spec.nodeName")
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		request, hasRequest := c.Resources.Requests[res]
		limit, hasLimit := c.Resources.Limits[res]
		if !hasRequest || !hasLimit {
			t.Errorf("%s: request or limit not set", res)
			continue
		}
		if request.Cmp(limit) > 0 {
			t.Errorf("%s request %s exceeds its limit %s", res, request.String(), limit.String())
		}
	}
	probes := map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe}
	want := map[string]string{"startup": "/readyz", "readiness": "/readyz", "liveness": "/healthz"}
	for name, p := range probes {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want[name] {
			t.Errorf("%s probe is not an HTTP GET of %s", name, want[name])
		}
	}
}

func TestDaemonSetHostPaths(t *testing.T) {
	ds := loadManifests(t).daemonSet
	c := container(t, ds)
	mounts := make(map[string]corev1.VolumeMount)
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm
	}
	var hostPaths []string
	for _, v := range ds.Spec.Template.Spec.Volumes {
		if v.HostPath == nil {
			continue
		}
		hostPaths = append(hostPaths, v.HostPath.Path)
		vm, ok := mounts[v.Name]
		if !ok {
			t.Errorf("host path %s is not mounted", v.HostPath.Path)
			continue
		}
		if !vm.ReadOnly {
			t.Errorf("host path %s is mounted read-write", v.HostPath.Path)
		}
		if vm.MountPath != v.HostPath.Path {
			t.Errorf("host path %s mounted at %s, want the same path", v.HostPath.Path, vm.MountPath)
		}
	}
	slices.Sort(hostPaths)
	if !slices.Equal(hostPaths, readOnlyHostPaths) {
		t.Errorf("host paths %v, want %v", hostPaths, readOnlyHostPaths)
	}
}

func TestRBACOnlyListsPods(t *testing.T) {
	m := loadManifests(t)
	if len(m.clusterRole.Rules) != 1 {
		t.Fatalf("ClusterRole has %d rules, want 1", len(m.clusterRole.Rules))
	}
	rule := m.clusterRole.Rules[0]
	if !slices.Equal(rule.APIGroups, []string{""}) || !slices.Equal(rule.Resources, []string{"pods"}) {
		t.Errorf("rule covers groups %v resources %v, want core pods only", rule.APIGroups, rule.Resources)
	}
	verbs := slices.Sorted(slices.Values(rule.Verbs))
	if !slices.Equal(verbs, []string{"list", "watch"}) {
		t.Errorf("verbs %v, want list and watch", rule.Verbs)
	}
	if m.binding.RoleRef.Name != m.clusterRole.Name {
		t.Errorf("binding refers to role %q, want %q", m.binding.RoleRef.Name, m.clusterRole.Name)
	}
	sa := m.serviceAccount
	if len(m.binding.Subjects) != 1 || m.binding.Subjects[0].Name != sa.Name ||
		m.binding.Subjects[0].Namespace != sa.Namespace {
		t.Errorf("binding subjects %+v, want only service account %s/%s", m.binding.Subjects, sa.Namespace, sa.Name)
	}
}

func TestServiceAndServiceMonitor(t *testing.T) {
	m := loadManifests(t)
	podLabels := m.daemonSet.Spec.Template.Labels
	for k, v := range m.service.Spec.Selector {
		if podLabels[k] != v {
			t.Errorf("Service selector %s=%s does not select the DaemonSet's pods", k, v)
		}
	}
	if len(m.service.Spec.Ports) != 1 || m.service.Spec.Ports[0].Port != 9476 {
		t.Fatalf("Service ports %+v, want one port 9476", m.service.Spec.Ports)
	}
	portName := m.service.Spec.Ports[0].Name

	sm, ok := m.custom["ServiceMonitor"]
	if !ok {
		t.Fatalf("no ServiceMonitor")
	}
	if sm["apiVersion"] != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion %v, want monitoring.coreos.com/v1", sm["apiVersion"])
	}
	spec := field[map[string]any](t, sm, "spec")
	match := field[map[string]any](t, field[map[string]any](t, spec, "selector"), "matchLabels")
	for k, v := range match {
		if m.service.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%v, which the Service lacks", k, v)
		}
	}
	endpoints := field[[]any](t, spec, "endpoints")
	if len(endpoints) == 0 {
		t.Fatalf("ServiceMonitor has no endpoints")
	}
	endpoint := endpoints[0].(map[string]any)
	if endpoint["port"] != portName {
		t.Errorf("ServiceMonitor scrapes port %v, want the Service's %q", endpoint["port"], portName)
	}
	if endpoint["path"] != "/metrics" {
		t.Errorf("ServiceMonitor path %v, want /metrics", endpoint["path"])
	}
}

func TestActionsPatch(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("actions", "daemonset-patch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	patch, ok := decodeStrict(t, "actions/daemonset-patch.yaml", data).(*appsv1.DaemonSet)
	if !ok {
		t.Fatalf("actions patch is not a DaemonSet")
	}
	base := loadManifests(t).daemonSet
	if patch.Name != base.Name || patch.Namespace != base.Namespace {
		t.Errorf("patch targets %s/%s, want %s/%s", patch.Namespace, patch.Name, base.Namespace, base.Name)
	}
	c := container(t, patch)
	if c.Name != container(t, base).Name {
		t.Errorf("patch container %q, want %q", c.Name, container(t, base).Name)
	}
	caps := c.SecurityContext.Capabilities
	if !slices.Equal(caps.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("patch capabilities.drop = %v, want [ALL]", caps.Drop)
	}
	if !slices.Equal(caps.Add, actionCapabilities) {
		t.Errorf("patch capabilities.add = %v, want %v", caps.Add, actionCapabilities)
	}
}

// field returns obj[key] as a T, failing the test when it is missing.
func field[T any](t *testing.T, obj map[string]any, key string) T {
	t.Helper()
	v, ok := obj[key].(T)
	if !ok {
		t.Fatalf("field %q missing or of type %T", key, obj[key])
	}
	return v
}

// registeredNames returns every metric name a scrape of zombietrace can
// contain: its own metrics and those of the Go and process collectors.
func registeredNames(t *testing.T) map[string]bool {
	t.Helper()
	names := make(map[string]bool)
	for _, n := range metrics.Names() {
		names[n] = true
	}
	families, err := metrics.New(metrics.Options{}).Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		names[f.GetName()] = true
	}
	return names
}

var metricToken = regexp.MustCompile(`\b(?:zombietrace|process|go)_[a-zA-Z0-9_]+\b`)

// checkQuery reports a query that names no metric or a metric that
// zombietrace does not register. Histogram series suffixes are accepted.
func checkQuery(t *testing.T, where, expr string, names map[string]bool) {
	t.Helper()
	tokens := metricToken.FindAllString(expr, -1)
	if len(tokens) == 0 {
		t.Errorf("%s: query %q names no zombietrace metric", where, expr)
	}
	for _, tok := range tokens {
		base := tok
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if trimmed, ok := strings.CutSuffix(tok, suffix); ok && names[trimmed] {
				base = trimmed
			}
		}
		if !names[base] {
			t.Errorf("%s: query names %s, which zombietrace does not register", where, tok)
		}
	}
}

func TestPrometheusRuleMetrics(t *testing.T) {
	rule, ok := loadManifests(t).custom["PrometheusRule"]
	if !ok {
		t.Fatalf("no PrometheusRule")
	}
	names := registeredNames(t)
	var alerts []string
	for _, g := range field[[]any](t, field[map[string]any](t, rule, "spec"), "groups") {
		for _, r := range field[[]any](t, g.(map[string]any), "rules") {
			r := r.(map[string]any)
			alert := field[string](t, r, "alert")
			alerts = append(alerts, alert)
			checkQuery(t, "alert "+alert, field[string](t, r, "expr"), names)
			annotations := field[map[string]any](t, r, "annotations")
			if annotations["summary"] == nil || annotations["description"] == nil {
				t.Errorf("alert %s lacks a summary or description", alert)
			}
		}
	}
	for _, want := range []string{"ZombiesGrowingInPod", "PodNearPidsLimit", "ZombietraceEventsLost"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alerts %v lack %s", alerts, want)
		}
	}
}

func TestDashboardMetrics(t *testing.T) {
	data, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var dashboard struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := dec.Decode(&dashboard); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if len(dashboard.Panels) == 0 {
		t.Fatalf("dashboard has no panels")
	}
	names := registeredNames(t)
	for _, p := range dashboard.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no queries", p.Title)
		}
		for _, target := range p.Targets {
			checkQuery(t, "panel "+p.Title, target.Expr, names)
		}
	}
}

func TestDockerfileBuildsWithMake(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{"FROM golang:1.26", "RUN make build", "gcr.io/distroless/static-debian12"} {
		if !strings.Contains(text, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}
