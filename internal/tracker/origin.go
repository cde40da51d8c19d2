package tracker

import (
	"strings"

	"github.com/zombietrace/zombietrace/internal/report"
)

// shimRuntimes maps the command names of container runtime shims, as the
// kernel truncates them to 15 bytes, to the runtime they belong to.
var shimRuntimes = map[string]string{
	"containerd-shim": "containerd", // containerd-shim-runc-v2 and v1
	"conmon":          "cri-o",      // also podman's monitor
	"docker-containe": "docker",     // docker-containerd-shim, Docker before 18.09
}

// runtimeHelpers are the OCI runtimes that stand between a shim and the
// process started in the container, briefly, during runc exec or create.
func runtimeHelper(comm string) bool {
	return comm == "runc" || strings.HasPrefix(comm, "runc:[") || comm == "crun" || comm == "youki"
}

// originOf finds the nearest shim in the lineage. The process right below
// it is the first one inside the container: PID 1 of its namespace for a
// container's init, another PID for an exec into a running container.
func originOf(p *process) *report.Origin {
	line := append([]ancestor{p.asAncestor()}, p.lineage.ancestors()...)
	for i := 1; i < len(line); i++ {
		runtime, ok := shimRuntimes[line[i].comm]
		if !ok {
			continue
		}
		entry := i - 1
		for entry > 0 && runtimeHelper(line[entry].comm) {
			entry--
		}
		o := &report.Origin{
			Kind:    "container_exec",
			Runtime: runtime,
			Shim:    toReport(line[i]),
			Entry:   toReport(line[entry]),
		}
		if line[entry].nsPID == 1 {
			o.Kind = "container_init"
		}
		return o
	}
	return nil
}

func toReport(a ancestor) report.Ancestor {
	return report.Ancestor{PID: a.pid, NSPID: a.nsPID, Comm: a.comm, Cmdline: a.args}
}
