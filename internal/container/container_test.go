package container

import (
	"strings"
	"testing"

	"github.com/zombietrace/zombietrace/internal/report"
)

const (
	id64  = "3f4c1b1e0c9d5a2b7e8f6a1d2c3b4a5968778695a4b3c2d1e0f1a2b3c4d5e6f7"
	id64b = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9"
	uid   = "6a9b2c3d-1e2f-4a5b-8c7d-0e1f2a3b4c5d"
	uidU  = "6a9b2c3d_1e2f_4a5b_8c7d_0e1f2a3b4c5d"
)

func TestFromCgroup(t *testing.T) {
	cases := []struct {
		name string
		path string
		want *report.Container
	}{
		{"docker cgroupfs v1", "/docker/" + id64,
			&report.Container{Runtime: "docker", ID: id64}},
		{"docker in docker", "/docker/" + id64 + "/docker/" + id64b,
			&report.Container{Runtime: "docker", ID: id64}},
		{"docker systemd", "/system.slice/docker-" + id64 + ".scope",
			&report.Container{Runtime: "docker", ID: id64}},
		{"docker systemd nested init", "/system.slice/docker-" + id64 + ".scope/init.scope",
			&report.Container{Runtime: "docker", ID: id64}},
		{"containerd systemd k8s v2",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU +
				".slice/cri-containerd-" + id64 + ".scope",
			&report.Container{Runtime: "containerd", ID: id64, PodUID: uid}},
		{"containerd guaranteed pod",
			"/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + id64 + ".scope",
			&report.Container{Runtime: "containerd", ID: id64, PodUID: uid}},
		{"containerd v1 colon form",
			"/system.slice/containerd.service/kubepods-besteffort-pod" + uidU +
				".slice:cri-containerd:" + id64,
			&report.Container{Runtime: "containerd", ID: id64, PodUID: uid}},
		{"kubepods cgroupfs burstable", "/kubepods/burstable/pod" + uid + "/" + id64,
			&report.Container{Runtime: "containerd", ID: id64, PodUID: uid}},
		{"kubepods cgroupfs guaranteed", "/kubepods/pod" + uid + "/" + id64,
			&report.Container{Runtime: "containerd", ID: id64, PodUID: uid}},
		{"kubepods static pod uid", "/kubepods/besteffort/pod0123456789abcdef0123456789abcdef/" + id64,
			&report.Container{Runtime: "containerd", ID: id64, PodUID: "0123456789abcdef0123456789abcdef"}},
		{"crio", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU +
			".slice/crio-" + id64 + ".scope",
			&report.Container{Runtime: "cri-o", ID: id64, PodUID: uid}},
		{"crio conmon", "/machine.slice/crio-conmon-" + id64 + ".scope",
			&report.Container{Runtime: "cri-o", ID: id64}},
		{"crio v1 colon form", "/kubepods-burstable-pod" + uidU + ".slice:crio:" + id64,
			&report.Container{Runtime: "cri-o", ID: id64, PodUID: uid}},
		{"podman rootful", "/machine.slice/libpod-" + id64 + ".scope",
			&report.Container{Runtime: "podman", ID: id64}},
		{"podman with container subgroup", "/machine.slice/libpod-" + id64 + ".scope/container",
			&report.Container{Runtime: "podman", ID: id64}},
		{"podman rootless",
			"/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id64 + ".scope",
			&report.Container{Runtime: "podman", ID: id64}},
		{"podman conmon", "/machine.slice/libpod-conmon-" + id64 + ".scope",
			&report.Container{Runtime: "podman", ID: id64}},
		{"podman cgroupfs", "/libpod_parent/libpod-" + id64,
			&report.Container{Runtime: "podman", ID: id64}},
		{"nerdctl", "/system.slice/nerdctl-" + id64 + ".scope",
			&report.Container{Runtime: "containerd", ID: id64}},
		{"systemd service", "/system.slice/nginx.service",
			&report.Container{Runtime: "systemd", Unit: "nginx.service"}},
		{"systemd user service",
			"/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service",
			&report.Container{Runtime: "systemd", Unit: "foo.service"}},
		{"systemd template instance", "/system.slice/system-getty.slice/getty@tty1.service",
			&report.Container{Runtime: "systemd", Unit: "getty@tty1.service"}},
		{"root", "/", nil},
		{"empty", "", nil},
		{"session scope", "/user.slice/user-0.slice/session-3.scope", nil},
		{"pod without container", "/kubepods/burstable/pod" + uid, nil},
		{"short docker id", "/docker/abc123", nil},
		{"uppercase id", "/docker/" + strings.ToUpper(id64), nil},
		{"bare id outside kubepods", "/foo/pod" + uid + "/" + id64, nil},
		{"other memory cgroup", "/process_api/95a67d785c690e4dc4fe03cf1525fb96", nil},
		{"scope with bad id", "/system.slice/docker-xyz.scope", nil},
		{"only .service", "/.service", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := FromCgroup(tc.path)
			if tc.want == nil {
				if got != nil {
					t.Fatalf("FromCgroup(%q) = %+v, want nil", tc.path, *got)
				}
				return
			}
			if got == nil {
				t.Fatalf("FromCgroup(%q) = nil, want %+v", tc.path, *tc.want)
			}
			if *got != *tc.want {
				t.Errorf("FromCgroup(%q) = %+v, want %+v", tc.path, *got, *tc.want)
			}
		})
	}
}

func FuzzFromCgroup(f *testing.F) {
	seeds := []string{
		"/docker/" + id64,
		"/system.slice/docker-" + id64 + ".scope",
		"/kubepods/burstable/pod" + uid + "/" + id64,
		"/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + id64 + ".scope",
		"/kubepods-burstable-pod" + uidU + ".slice:crio:" + id64,
		"/libpod_parent/libpod-" + id64,
		"/system.slice/nginx.service",
		"/", "", "::", "/pod/kubepods-pod.slice",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	runtimes := map[string]bool{
		RuntimeDocker: true, RuntimeContainerd: true, RuntimeCRIO: true,
		RuntimePodman: true, RuntimeSystemd: true,
	}
	f.Fuzz(func(t *testing.T, path string) {
		c := FromCgroup(path)
		if c == nil {
			return
		}
		if !runtimes[c.Runtime] {
			t.Errorf("FromCgroup(%q): runtime %q is not a known runtime", path, c.Runtime)
		}
		if c.Runtime == RuntimeSystemd {
			if c.ID != "" || c.PodUID != "" {
				t.Errorf("FromCgroup(%q) = %+v: systemd unit with a container ID or pod", path, *c)
			}
			if !strings.HasSuffix(c.Unit, ".service") || !strings.Contains(path, c.Unit) {
				t.Errorf("FromCgroup(%q): unit %q is not a .service segment of the path", path, c.Unit)
			}
			return
		}
		if !isContainerID(c.ID) || !strings.Contains(path, c.ID) {
			t.Errorf("FromCgroup(%q): ID %q is not a hex ID from the path", path, c.ID)
		}
		if c.Unit != "" {
			t.Errorf("FromCgroup(%q): unit %q set for runtime %s", path, c.Unit, c.Runtime)
		}
		if strings.Contains(c.PodUID, "_") || (c.PodUID != "" && !isUID(c.PodUID)) {
			t.Errorf("FromCgroup(%q): invalid pod UID %q", path, c.PodUID)
		}
	})
}
