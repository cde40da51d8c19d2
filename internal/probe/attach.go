package probe

import (
	"fmt"
	"log/slog"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

type tracingHook struct {
	name string
	prog *ebpf.Program
}

// ProgramIDs returns the kernel's IDs of the loaded programs, as bpftool
// prog show lists them.
func (p *Probe) ProgramIDs() []uint32 {
	return append([]uint32(nil), p.progIDs...)
}

type syscallHook struct {
	name  string
	prog  *ebpf.Program
	entry bool
}

func (p *Probe) attach(logger *slog.Logger) error {
	progs := &p.objs.zombietracePrograms
	tracing := []tracingHook{
		{"sched_process_fork", progs.HandleFork},
		{"sched_process_exec", progs.HandleExec},
		{"sched_process_exit", progs.HandleExit},
		{"signal_generate", progs.HandleSignal},
		{"sched_process_free", progs.HandleFree},
	}
	for _, h := range tracing {
		l, err := link.AttachTracing(link.TracingOptions{Program: h.prog})
		if err != nil {
			return fmt.Errorf("attach tp_btf/%s: %w", h.name, err)
		}
		p.addLink(logger, "tp_btf/"+h.name, h.prog, l)
	}

	mount, err := ensureTracefs()
	if err != nil {
		return err
	}
	p.tracefs = mount
	syscalls := []syscallHook{
		{"sys_enter_wait4", progs.HandleWait4Enter, true},
		{"sys_exit_wait4", progs.HandleWait4Exit, false},
		{"sys_enter_waitid", progs.HandleWaitidEnter, true},
		{"sys_exit_waitid", progs.HandleWaitidExit, false},
	}
	for _, h := range syscalls {
		if h.entry && p.argsFromRegs {
			continue
		}
		l, err := link.Tracepoint("syscalls", h.name, h.prog, nil)
		if err != nil {
			return fmt.Errorf("attach tracepoint/syscalls/%s: %w", h.name, err)
		}
		p.addLink(logger, "tracepoint/syscalls/"+h.name, h.prog, l)
	}
	return nil
}

func (p *Probe) addLink(logger *slog.Logger, name string, prog *ebpf.Program, l link.Link) {
	p.links = append(p.links, l)
	p.hooks = append(p.hooks, name)
	var id ebpf.ProgramID
	if info, err := prog.Info(); err == nil {
		id, _ = info.ID()
	}
	p.progIDs = append(p.progIDs, uint32(id))
	if logger != nil {
		logger.Debug("attached hook", "hook", name, "prog_id", id)
	}
}
