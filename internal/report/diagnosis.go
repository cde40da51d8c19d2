package report

// Diagnosis explains why a zombie is not reaped.
type Diagnosis struct {
	// Verdict is a stable identifier, documented in docs/verdicts.md.
	Verdict string `json:"verdict"`
	// Summary is one sentence for a person.
	Summary string `json:"summary"`
	// Evidence lists the observations the verdict rests on.
	Evidence []string `json:"evidence,omitempty"`
	// Fix is the change a user would make so that such zombies are reaped.
	Fix string `json:"fix,omitempty"`
}

// Container identifies a container from a cgroup path.
type Container struct {
	// Runtime is "docker", "containerd", "cri-o", "podman" or "systemd".
	Runtime string `json:"runtime"`
	ID      string `json:"id,omitempty"`
	// PodUID is the Kubernetes pod UID, when the cgroup path names one.
	PodUID string `json:"pod_uid,omitempty"`
	// Unit is the systemd unit, for runtime "systemd".
	Unit string `json:"unit,omitempty"`
}
