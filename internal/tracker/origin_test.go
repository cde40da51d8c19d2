package tracker

import (
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/event"
)

func TestOriginOfExecIntoContainer(t *testing.T) {
	p := &process{key: event.Key{PID: 50}, pids: event.PIDChain{OwnNR: 9}, comm: "sh", lineage: lineageOf(
		ancestor{pid: 40, nsPID: 7, comm: "bash"},
		ancestor{pid: 30, nsPID: 30, comm: "runc:[2:INIT]"},
		ancestor{pid: 29, nsPID: 29, comm: "runc"},
		ancestor{pid: 20, nsPID: 20, comm: "containerd-shim"},
		ancestor{pid: 1, nsPID: 1, comm: "systemd"},
	)}
	o := originOf(p)
	if o == nil {
		t.Fatal("no origin found below containerd-shim")
	}
	if o.Kind != "container_exec" || o.Runtime != "containerd" {
		t.Errorf("origin = %s via %s, want container_exec via containerd", o.Kind, o.Runtime)
	}
	if o.Entry.PID != 40 || o.Shim.PID != 20 {
		t.Errorf("entry = %d, shim = %d; want bash 40 and the shim 20", o.Entry.PID, o.Shim.PID)
	}
}

func TestOriginOfContainerInit(t *testing.T) {
	p := &process{key: event.Key{PID: 61}, pids: event.PIDChain{OwnNR: 5}, comm: "python3", lineage: lineageOf(
		ancestor{pid: 60, nsPID: 1, comm: "python3"},
		ancestor{pid: 55, nsPID: 55, comm: "conmon"},
	)}
	o := originOf(p)
	if o == nil || o.Kind != "container_init" || o.Runtime != "cri-o" || o.Entry.PID != 60 {
		t.Errorf("origin = %+v, want container_init via cri-o entered at 60", o)
	}
}

func TestOriginOfHostProcess(t *testing.T) {
	p := &process{comm: "sleep", lineage: lineageOf(ancestor{pid: 10, comm: "bash"}, ancestor{pid: 1, comm: "systemd"})}
	if o := originOf(p); o != nil {
		t.Errorf("origin = %+v for a host process, want none", o)
	}
}

func TestLineageFollowsCreators(t *testing.T) {
	h := newHarness(t)
	shell, child, grandchild := ref(100, 50), ref(200, 300), ref(300, 400)
	h.proc.process(100, "bash", 'S', 1, 50)
	h.proc.process(300, "sh", 'Z', 200, 400)
	h.fork(3*time.Second, child, shell, chain(200))
	h.fork(3500*time.Millisecond, grandchild, child, chain(300))
	h.exit(4*time.Second, grandchild, child, chain(300), 0)
	h.expireAt(5 * time.Second)
	if len(h.records) != 1 {
		t.Fatalf("got %d records, want 1", len(h.records))
	}
	line := h.records[0].Lineage
	if len(line) < 2 || line[0].PID != 200 || line[1].PID != 100 || line[1].Comm != "bash" {
		t.Errorf("lineage = %+v, want 200 then 100 (bash)", line)
	}
}

// lineageOf builds a lineage from ancestors, nearest first.
func lineageOf(line ...ancestor) *lineageNode {
	var l *lineageNode
	for i := len(line) - 1; i >= 0; i-- {
		l = newLineage(line[i], l)
	}
	return l
}

func TestLineageCutAtMax(t *testing.T) {
	p := &process{}
	for i := range 100 {
		child := &process{key: event.Key{PID: uint32(i)}}
		child.inheritLineage(p)
		p = child
	}
	if p.lineage.depth > maxLineage {
		t.Errorf("depth = %d, want at most %d", p.lineage.depth, maxLineage)
	}
	got := p.lineage.ancestors()
	if len(got) != maxLineage || got[0].pid != 98 || got[maxLineage-1].pid != uint32(99-maxLineage) {
		t.Errorf("ancestors = %+v, want the %d nearest, from 98 down", got, maxLineage)
	}
}

func TestLineageFromProcReusesTrackedParent(t *testing.T) {
	h := newHarness(t)
	shell, child := ref(100, 50), ref(200, 300)
	h.proc.process(100, "bash", 'S', 1, 50)
	h.fork(3*time.Second, child, shell, chain(200))
	// 300 started before zombietrace: its parent 200 is tracked, and /proc
	// has no entry for 200, so the line can only come from the tracker.
	h.proc.process(300, "sleep", 'S', 200, 400)
	p := h.lookup(ref(300, 400))
	got := p.lineage.ancestors()
	if len(got) < 2 || got[0].pid != 200 || got[1].pid != 100 {
		t.Errorf("lineage = %+v, want 200 then 100 from the tracker", got)
	}
}
