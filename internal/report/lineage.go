package report

// Ancestor is one process in a zombie's line of creators, nearest first.
type Ancestor struct {
	PID     uint32   `json:"pid"`
	NSPID   uint32   `json:"ns_pid"`
	Comm    string   `json:"comm"`
	Cmdline []string `json:"cmdline,omitempty"`
}

// Origin is the way the zombie's line of processes was started, when an
// ancestor shows it: a container runtime's shim starting a container's
// init, or an exec into a running container (docker exec, kubectl exec,
// an exec probe).
type Origin struct {
	// Kind is "container_init" or "container_exec".
	Kind string `json:"kind"`
	// Runtime is "containerd", "cri-o" or "docker", from the shim.
	Runtime string `json:"runtime"`
	// Shim is the runtime's shim process that started the line.
	Shim Ancestor `json:"shim"`
	// Entry is the first process inside the container: its init, or the
	// process that the exec started.
	Entry Ancestor `json:"entry"`
}
