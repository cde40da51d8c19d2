// Package container identifies the container runtime, container ID,
// Kubernetes pod and systemd unit that a cgroup path names.
package container

import (
	"strings"

	"github.com/zombietrace/zombietrace/internal/report"
)

// Runtime names, as stored in report.Container.Runtime.
const (
	RuntimeDocker     = "docker"
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimePodman     = "podman"
	RuntimeSystemd    = "systemd"
)

// scopePrefixes maps the prefix of a systemd scope that a runtime creates
// for a container ("docker-<id>.scope") to the runtime. Longer prefixes come
// first, so that "crio-conmon-" wins over "crio-".
var scopePrefixes = []struct {
	prefix  string
	runtime string
}{
	{"cri-containerd-", RuntimeContainerd},
	{"crio-conmon-", RuntimeCRIO},
	{"crio-", RuntimeCRIO},
	{"libpod-conmon-", RuntimePodman},
	{"libpod-", RuntimePodman},
	{"docker-", RuntimeDocker},
	{"nerdctl-", RuntimeContainerd},
}

// colonRuntimes maps the middle field of the "<slice>:<runtime>:<id>" names
// that the kubelet's systemd cgroup driver uses under cgroup v1.
var colonRuntimes = map[string]string{
	"cri-containerd": RuntimeContainerd,
	"crio":           RuntimeCRIO,
	"docker":         RuntimeDocker,
}

// FromCgroup returns the container that a cgroup path (as in
// /proc/PID/cgroup) belongs to, or nil when the path names no container,
// pod or systemd service. When containers nest, as with Docker in Docker,
// the outermost one is returned, because that is the one the host runs.
//
// Recognised shapes:
//
//	/docker/<64 hex>                              docker, cgroupfs driver
//	/system.slice/docker-<id>.scope               docker, systemd driver
//	.../cri-containerd-<id>.scope                 containerd
//	.../<slice>:cri-containerd:<id>               containerd, cgroup v1 systemd driver
//	/kubepods/<qos>/pod<uid>/<64 hex>             Kubernetes, cgroupfs driver
//	.../crio-<id>.scope                           CRI-O
//	.../libpod-<id>.scope, /libpod_parent/libpod-<id>   podman
//	.../<name>.service                            systemd unit
func FromCgroup(path string) *report.Container {
	segments := strings.Split(strings.Trim(path, "/"), "/")
	c := &report.Container{}
	for i, segment := range segments {
		if c.PodUID == "" {
			c.PodUID = podUID(segment)
		}
		if c.ID != "" {
			continue
		}
		if runtime, id, ok := containerSegment(segment, segments[:i]); ok {
			c.Runtime, c.ID = runtime, id
		}
	}
	if c.ID == "" && c.PodUID != "" {
		// NOTE: a process in a pod's cgroup but in no container's cgroup
		// shows no runtime, so the pod is not reported.
		c.PodUID = ""
	}
	if c.ID != "" {
		return c
	}
	if unit := innermostService(segments); unit != "" {
		return &report.Container{Runtime: RuntimeSystemd, Unit: unit}
	}
	return nil
}

// containerSegment reports the runtime and container ID that one path
// segment names. parents are the segments above it.
func containerSegment(segment string, parents []string) (runtime, id string, ok bool) {
	if name, found := strings.CutSuffix(segment, ".scope"); found {
		for _, p := range scopePrefixes {
			if rest, has := strings.CutPrefix(name, p.prefix); has && isContainerID(rest) {
				return p.runtime, rest, true
			}
		}
		return "", "", false
	}
	if fields := strings.Split(segment, ":"); len(fields) == 3 {
		if runtime, known := colonRuntimes[fields[1]]; known && isContainerID(fields[2]) {
			return runtime, fields[2], true
		}
		return "", "", false
	}
	if !isFullID(segment) && !strings.HasPrefix(segment, "libpod-") {
		return "", "", false
	}
	if len(parents) == 0 {
		return "", "", false
	}
	switch parent := parents[len(parents)-1]; {
	case parent == "docker":
		return RuntimeDocker, segment, true
	case parent == "libpod_parent":
		if rest, has := strings.CutPrefix(segment, "libpod-"); has && isContainerID(rest) {
			return RuntimePodman, rest, true
		}
	case isFullID(segment) && podUID(parent) != "" && strings.HasPrefix(parents[0], "kubepods"):
		// NOTE: the cgroupfs driver's path does not name the runtime.
		// containerd is the default runtime of current Kubernetes, so it
		// is assumed, and a CRI-O or cri-dockerd node is reported wrongly.
		return RuntimeContainerd, segment, true
	}
	return "", "", false
}

// podUID returns the pod UID that a segment such as "pod<uid>" or
// "kubepods-burstable-pod<uid_with_underscores>.slice" names, with dashes,
// or "" when it names none.
func podUID(segment string) string {
	// The cgroup v1 systemd driver's form "<slice>:<runtime>:<id>" starts
	// with the pod's slice.
	segment, _, _ = strings.Cut(segment, ":")
	name := strings.TrimSuffix(segment, ".slice")
	i := strings.LastIndex(name, "pod")
	if i < 0 {
		return ""
	}
	if i > 0 && name[i-1] != '-' {
		return ""
	}
	if i > 0 && !strings.HasPrefix(name, "kubepods") {
		return ""
	}
	uid := strings.ReplaceAll(name[i+len("pod"):], "_", "-")
	if !isUID(uid) {
		return ""
	}
	return uid
}

// isUID reports whether s is a UUID (8-4-4-4-12 hex digits) or the 32 hex
// digits that the kubelet uses as the UID of a static pod.
func isUID(s string) bool {
	if len(s) == 32 {
		return isHex(s)
	}
	groups := strings.Split(s, "-")
	if len(groups) != 5 {
		return false
	}
	for i, n := range []int{8, 4, 4, 4, 12} {
		if len(groups[i]) != n || !isHex(groups[i]) {
			return false
		}
	}
	return true
}

// innermostService returns the last segment that is a systemd service.
func innermostService(segments []string) string {
	for i := len(segments) - 1; i >= 0; i-- {
		if name, ok := strings.CutSuffix(segments[i], ".service"); ok && name != "" {
			return segments[i]
		}
	}
	return ""
}

// isFullID reports whether s is a 64-digit hex container ID, the form that
// Docker, containerd and CRI-O use.
func isFullID(s string) bool { return len(s) == 64 && isHex(s) }

// isContainerID accepts the IDs found inside a runtime's own scope name.
// They are full IDs in practice, but shorter hex IDs are accepted there
// because the prefix already names the runtime.
func isContainerID(s string) bool { return len(s) >= 12 && len(s) <= 128 && isHex(s) }

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}
