package kube

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
)

func pod(namespace, name, uid, node string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID(uid), Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
}

// apiServer serves the pod list and watch requests of the core v1 API on
// loopback, as the Kubernetes API server does: a list returns the initial
// pods, and a watch streams the events that the test sends.
type apiServer struct {
	*httptest.Server
	initial   []corev1.Pod
	events    chan metav1.WatchEvent
	mu        sync.Mutex
	selectors []string
	version   int
}

func newAPIServer(t *testing.T, initial ...*corev1.Pod) *apiServer {
	s := &apiServer{events: make(chan metav1.WatchEvent, 16)}
	for _, p := range initial {
		s.initial = append(s.initial, *p)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v1/pods" {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.selectors = append(s.selectors, r.URL.Query().Get("fieldSelector"))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Query().Get("watch") != "true" {
		list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"},
			ListMeta: metav1.ListMeta{ResourceVersion: "1"}, Items: s.initial}
		_ = json.NewEncoder(w).Encode(list)
		return
	}
	flusher := w.(http.Flusher)
	if r.URL.Query().Get("sendInitialEvents") == "true" {
		// A streaming list: the initial pods as ADDED events, then a
		// bookmark that marks their end.
		enc := json.NewEncoder(w)
		for i := range s.initial {
			_ = enc.Encode(watchEvent("ADDED", &s.initial[i]))
		}
		end := &corev1.Pod{TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
			ObjectMeta: metav1.ObjectMeta{ResourceVersion: "1",
				Annotations: map[string]string{metav1.InitialEventsAnnotationKey: "true"}}}
		_ = enc.Encode(watchEvent("BOOKMARK", end))
	}
	flusher.Flush()
	for {
		select {
		case ev := <-s.events:
			_ = json.NewEncoder(w).Encode(ev)
			flusher.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// send streams one watch event about p to the resolver.
func (s *apiServer) send(t *testing.T, kind string, p *corev1.Pod) {
	t.Helper()
	s.mu.Lock()
	s.version++
	p.ResourceVersion = strconv.Itoa(s.version + 1)
	s.mu.Unlock()
	s.events <- watchEvent(kind, p)
}

// watchEvent wraps p in a watch event. Encoding a Pod cannot fail, because
// it holds no channels, functions or cyclic pointers.
func watchEvent(kind string, p *corev1.Pod) metav1.WatchEvent {
	raw, _ := json.Marshal(p)
	return metav1.WatchEvent{Type: kind, Object: runtime.RawExtension{Raw: raw}}
}

func startResolver(t *testing.T, server *apiServer, node string) *Resolver {
	t.Helper()
	client, err := NewCoreClient(&rest.Config{Host: server.URL})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := NewResolver(client, node)
	r.Start(ctx)
	syncCtx, syncCancel := context.WithTimeout(ctx, 10*time.Second)
	defer syncCancel()
	if !r.WaitForSync(syncCtx) {
		t.Fatalf("pod cache did not sync within 10 s")
	}
	return r
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out after 5 s waiting until %s", what)
}

func TestPodFromInitialList(t *testing.T) {
	server := newAPIServer(t, pod("shop", "web-0", "uid-web", "node-a", map[string]string{"app": "web"}))
	r := startResolver(t, server, "node-a")

	info, ok := r.Pod("uid-web")
	if !ok {
		t.Fatalf("Pod(uid-web) not found")
	}
	if info.Namespace != "shop" || info.Name != "web-0" {
		t.Errorf("Pod(uid-web) = %s/%s, want shop/web-0", info.Namespace, info.Name)
	}
	if info.Labels["app"] != "web" {
		t.Errorf("Pod(uid-web) labels = %v, want app=web", info.Labels)
	}
	if _, ok := r.Pod("no-such-uid"); ok {
		t.Errorf("Pod(no-such-uid) found, want not found")
	}
}

func TestListUsesNodeFieldSelector(t *testing.T) {
	server := newAPIServer(t)
	startResolver(t, server, "node-a")

	server.mu.Lock()
	selectors := append([]string(nil), server.selectors...)
	server.mu.Unlock()
	if len(selectors) == 0 {
		t.Fatal("the resolver sent no request for pods")
	}
	for _, s := range selectors {
		if s != "spec.nodeName=node-a" {
			t.Errorf("pods requested with field selector %q, want spec.nodeName=node-a", s)
		}
	}
}

func TestPodAddedUpdatedDeleted(t *testing.T) {
	server := newAPIServer(t)
	r := startResolver(t, server, "node-a")

	created := pod("jobs", "batch-1", "uid-batch", "node-a", map[string]string{"run": "1"})
	server.send(t, "ADDED", created)
	eventually(t, "the created pod is in the cache", func() bool {
		_, ok := r.Pod("uid-batch")
		return ok
	})

	updated := created.DeepCopy()
	updated.Labels["run"] = "2"
	server.send(t, "MODIFIED", updated)
	eventually(t, "the pod's new label is in the cache", func() bool {
		info, _ := r.Pod("uid-batch")
		return info.Labels["run"] == "2"
	})

	server.send(t, "DELETED", updated)
	eventually(t, "the deleted pod leaves the cache", func() bool {
		_, ok := r.Pod("uid-batch")
		return !ok
	})
}

func TestPodReturnsCopyOfLabels(t *testing.T) {
	server := newAPIServer(t, pod("a", "p", "uid-p", "node-a", map[string]string{"k": "v"}))
	r := startResolver(t, server, "node-a")
	info, _ := r.Pod("uid-p")
	info.Labels["k"] = "changed"
	again, _ := r.Pod("uid-p")
	if again.Labels["k"] != "v" {
		t.Errorf("changing the returned labels changed the cache: k=%q, want v", again.Labels["k"])
	}
}

func TestTrimPodKeepsIdentity(t *testing.T) {
	full := pod("ns", "name", "uid-1", "node-a", map[string]string{"a": "b"})
	full.ResourceVersion = "42"
	full.Annotations = map[string]string{"big": "annotation"}
	obj, err := trimPod(full)
	if err != nil {
		t.Fatalf("trimPod: %v", err)
	}
	trimmed := obj.(*corev1.Pod)
	if trimmed.UID != "uid-1" || trimmed.Namespace != "ns" || trimmed.Name != "name" {
		t.Errorf("trimmed pod identity = %s/%s %s, want ns/name uid-1", trimmed.Namespace, trimmed.Name, trimmed.UID)
	}
	if trimmed.ResourceVersion != "42" {
		t.Errorf("trimmed resource version = %q, want 42", trimmed.ResourceVersion)
	}
	if len(trimmed.Spec.Containers) != 0 || trimmed.Annotations != nil {
		t.Errorf("trimmed pod still has containers or annotations: %+v", trimmed)
	}
}

func TestNewInClusterResolverNeedsNodeName(t *testing.T) {
	t.Setenv(NodeNameEnv, "")
	if _, err := NewInClusterResolver(); err == nil {
		t.Errorf("NewInClusterResolver without $%s returned nil error", NodeNameEnv)
	}
}
