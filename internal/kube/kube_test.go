package kube

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func pod(namespace, name, uid, node string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID(uid), Labels: labels},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
	}
}

func startResolver(t *testing.T, client *fake.Clientset, node string) *Resolver {
	t.Helper()
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
	client := fake.NewClientset(pod("shop", "web-0", "uid-web", "node-a", map[string]string{"app": "web"}))
	r := startResolver(t, client, "node-a")

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
	client := fake.NewClientset()
	startResolver(t, client, "node-a")

	var selectors []string
	for _, action := range client.Actions() {
		list, ok := action.(k8stesting.ListActionImpl)
		if !ok || action.GetResource().Resource != "pods" {
			continue
		}
		selectors = append(selectors, list.GetListRestrictions().Fields.String())
	}
	if len(selectors) == 0 {
		t.Fatalf("no list of pods among the client's actions %v", client.Actions())
	}
	for _, s := range selectors {
		if s != "spec.nodeName=node-a" {
			t.Errorf("pods listed with field selector %q, want spec.nodeName=node-a", s)
		}
	}
}

func TestPodAddedUpdatedDeleted(t *testing.T) {
	client := fake.NewClientset()
	r := startResolver(t, client, "node-a")
	ctx := context.Background()
	pods := client.CoreV1().Pods("jobs")

	created := pod("jobs", "batch-1", "uid-batch", "node-a", map[string]string{"run": "1"})
	if _, err := pods.Create(ctx, created, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	eventually(t, "the created pod is in the cache", func() bool {
		_, ok := r.Pod("uid-batch")
		return ok
	})

	updated := created.DeepCopy()
	updated.Labels["run"] = "2"
	if _, err := pods.Update(ctx, updated, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update pod: %v", err)
	}
	eventually(t, "the pod's new label is in the cache", func() bool {
		info, _ := r.Pod("uid-batch")
		return info.Labels["run"] == "2"
	})

	if err := pods.Delete(ctx, "batch-1", metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod: %v", err)
	}
	eventually(t, "the deleted pod leaves the cache", func() bool {
		_, ok := r.Pod("uid-batch")
		return !ok
	})
}

func TestPodReturnsCopyOfLabels(t *testing.T) {
	client := fake.NewClientset(pod("a", "p", "uid-p", "node-a", map[string]string{"k": "v"}))
	r := startResolver(t, client, "node-a")
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
