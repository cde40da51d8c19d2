package tracker

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/event"
	"github.com/zombietrace/zombietrace/internal/report"
)

// fakeProc is a /proc tree in a temporary directory, so that the state
// machine can be driven by hand-written events and still confirm zombies.
type fakeProc struct {
	t    *testing.T
	root string
}

func newFakeProc(t *testing.T) *fakeProc {
	f := &fakeProc{t: t, root: t.TempDir()}
	f.write(fmt.Sprintf("%d/status", os.Getpid()), "Name:\tzt\nState:\tR (running)\nPid:\t1\nPPid:\t0\nNSpid:\t1\n")
	f.write("self/mountinfo", "")
	return f
}

func (f *fakeProc) write(name, content string) {
	path := filepath.Join(f.root, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// process writes /proc/PID/stat for a process in state, started at ticks.
func (f *fakeProc) process(pid int, comm string, state byte, ppid int, ticks uint64) {
	f.write(fmt.Sprintf("%d/stat", pid), fmt.Sprintf(
		"%d (%s) %c %d 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 %d 0 0\n",
		pid, comm, state, ppid, ticks))
}

type harness struct {
	*Tracker
	proc    *fakeProc
	records []report.Record
}

func newHarness(t *testing.T, opts ...func(*Config)) *harness {
	h := &harness{proc: newFakeProc(t)}
	cfg := Config{MinAge: time.Second, ProcRoot: h.proc.root, Emit: func(r report.Record) {
		h.records = append(h.records, r)
	}}
	for _, o := range opts {
		o(&cfg)
	}
	tr, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.Tracker = tr
	return h
}

const tick = uint64(10 * time.Millisecond)

func ref(pid uint32, startTicks uint64) event.ProcRef {
	return event.ProcRef{PID: pid, StartNs: startTicks * tick}
}

func hdr(kind event.Kind, at time.Duration, p event.ProcRef) event.Header {
	return event.Header{TimeNs: uint64(at), Kind: kind, Proc: p}
}

func chain(pids ...uint32) event.PIDChain {
	c := event.PIDChain{Level: uint32(len(pids) - 1), OwnNR: pids[len(pids)-1], Known: uint8(len(pids))}
	copy(c.NR[:], pids)
	return c
}

func (h *harness) fork(at time.Duration, child, parent event.ProcRef, pids event.PIDChain) {
	h.Handle(&event.Fork{Header: hdr(event.KindFork, at, child), Parent: parent, Creator: parent,
		PIDs: pids, Comm: "child"})
}

func (h *harness) exit(at time.Duration, p, parent event.ProcRef, pids event.PIDChain, code uint32) {
	h.Handle(&event.Exit{Header: hdr(event.KindExit, at, p), Parent: parent, Tracer: parent,
		PIDs: pids, ExitCode: code, ExitSignal: 17,
		Flags: event.ExitLeader | event.ExitGroupDead, Comm: "child"})
}

// deadChild makes parent 100 fork child 101, which exits at 1 s and
// stays a zombie in the fake /proc.
func (h *harness) deadChild() (parent, child event.ProcRef) {
	parent, child = ref(100, 50), ref(101, 60)
	h.proc.process(100, "parent", 'S', 1, 50)
	h.proc.process(101, "child", 'Z', 100, 60)
	h.fork(time.Second, child, parent, chain(101))
	h.exit(time.Second, child, parent, chain(101), 0)
	return parent, child
}

func (h *harness) expireAt(at time.Duration) {
	h.Expire(h.clock.wall(uint64(at)))
}

func TestLingeringRecordFields(t *testing.T) {
	h := newHarness(t)
	parent, child := ref(100, 50), ref(200, 300)
	h.proc.process(100, "parent", 'S', 1, 50)
	h.proc.process(200, "child", 'Z', 100, 300)
	h.fork(3*time.Second, child, parent, chain(200))
	h.Handle(&event.Exec{Header: hdr(event.KindExec, 3*time.Second, child), PIDs: chain(200),
		Comm: "sleep", Args: []string{"sleep", "1"}})
	h.exit(4*time.Second, child, parent, chain(200), 2<<8)
	h.Handle(&event.Wait{Header: hdr(event.KindWait, 4500*time.Millisecond, parent),
		Syscall: event.SyscallWait4, ID: 999, ChildPID: 0, Return: -10})

	h.expireAt(4900 * time.Millisecond)
	if len(h.records) != 0 {
		t.Fatalf("got %d records before the minimum age", len(h.records))
	}
	h.expireAt(5 * time.Second)
	if len(h.records) != 1 {
		t.Fatalf("got %d records, want 1", len(h.records))
	}
	r := h.records[0]
	if r.Type != report.TypeLingering || r.Zombie.PID != 200 {
		t.Errorf("record = %s for %d, want lingering for 200", r.Type, r.Zombie.PID)
	}
	if r.Exit == nil || r.Exit.Code == nil || *r.Exit.Code != 2 {
		t.Errorf("exit = %+v, want code 2", r.Exit)
	}
	if got := r.Zombie.Cmdline; len(got) != 2 || got[0] != "sleep" {
		t.Errorf("cmdline = %q, want [sleep 1]", got)
	}
	if r.Parent == nil || r.Parent.PID != 100 || r.Parent.Comm != "parent" {
		t.Errorf("parent = %+v, want 100 (parent), read from /proc", r.Parent)
	}
	if r.Waits.Summary != report.WaitOtherPIDs || r.Waits.Calls != 1 {
		t.Errorf("waits = %+v, want one call for another PID", r.Waits)
	}
	if r.AgeSeconds != 1 {
		t.Errorf("age = %v, want 1", r.AgeSeconds)
	}
}

func TestNoRecordWhenProcDisagrees(t *testing.T) {
	h := newHarness(t)
	parent, child := ref(100, 50), ref(200, 300)
	h.proc.process(100, "parent", 'S', 1, 50)
	// The PID now belongs to another process: a record would be wrong.
	h.proc.process(200, "other", 'Z', 100, 999)
	h.fork(3*time.Second, child, parent, chain(200))
	h.exit(4*time.Second, child, parent, chain(200), 0)
	h.expireAt(10 * time.Second)
	if len(h.records) != 0 {
		t.Errorf("got %d records for a reused PID", len(h.records))
	}
}

func TestPIDReuseKeepsHistoriesApart(t *testing.T) {
	h := newHarness(t)
	parent := ref(100, 50)
	old, reused := ref(200, 300), ref(200, 800)
	h.proc.process(100, "parent", 'S', 1, 50)
	h.fork(3*time.Second, old, parent, chain(200))
	h.Handle(&event.Exec{Header: hdr(event.KindExec, 3*time.Second, old), PIDs: chain(200),
		Args: []string{"old-program"}})
	h.exit(3500*time.Millisecond, old, parent, chain(200), 0)
	h.Handle(&event.Free{Header: hdr(event.KindFree, 3600*time.Millisecond, old)})

	h.proc.process(200, "new", 'Z', 100, 800)
	h.fork(8*time.Second, reused, parent, chain(200))
	h.exit(9*time.Second, reused, parent, chain(200), 1<<8)
	h.expireAt(11 * time.Second)
	if len(h.records) != 1 {
		t.Fatalf("got %d records, want 1", len(h.records))
	}
	r := h.records[0]
	for _, arg := range r.Zombie.Cmdline {
		if arg == "old-program" {
			t.Errorf("the reused PID carries the old process's command line %q", r.Zombie.Cmdline)
		}
	}
	if r.Exit == nil || r.Exit.Code == nil || *r.Exit.Code != 1 {
		t.Errorf("exit = %+v, want the new process's code 1", r.Exit)
	}
}

func TestHandoverOfDeadChild(t *testing.T) {
	h := newHarness(t)
	reaper, parent, child := ref(10, 5), ref(100, 50), ref(200, 300)
	h.proc.process(10, "init", 'S', 0, 5)
	h.proc.process(100, "parent", 'S', 10, 50)
	h.proc.process(200, "child", 'Z', 10, 300)
	h.fork(3*time.Second, child, parent, chain(200))
	h.exit(4*time.Second, child, parent, chain(200), 0)
	h.expireAt(5 * time.Second)
	if len(h.records) != 1 {
		t.Fatalf("got %d records, want the lingering one", len(h.records))
	}
	h.Handle(&event.Exit{Header: hdr(event.KindExit, 6*time.Second, parent), Parent: reaper,
		PIDs: chain(100), Flags: event.ExitLeader | event.ExitGroupDead})
	h.Handle(&event.ChildSignal{Header: hdr(event.KindChildSignal, 6*time.Second, parent),
		Target: reaper, Signal: 17, Code: 1, ChildNSPID: 200})
	if len(h.records) != 2 {
		t.Fatalf("got %d records, want a handed_over one", len(h.records))
	}
	r := h.records[1]
	if r.Type != report.TypeHandedOver || r.Parent.PID != 10 {
		t.Errorf("record = %s with parent %+v, want handed_over to 10", r.Type, r.Parent)
	}
	if r.OriginalParent == nil || r.OriginalParent.PID != 100 {
		t.Errorf("original_parent = %+v, want 100", r.OriginalParent)
	}
	if len(r.Handovers) != 1 || !r.Handovers[0].Dead || r.Handovers[0].From.PID != 100 {
		t.Errorf("handovers = %+v, want one of a dead child from 100", r.Handovers)
	}
	h.Handle(&event.Wait{Header: hdr(event.KindWait, 7*time.Second, reaper), Syscall: event.SyscallWait4,
		ID: -1, Return: 200, ChildPID: 200})
	if len(h.records) != 3 || h.records[2].Type != report.TypeReaped {
		t.Fatalf("records = %d, want a reaped record last", len(h.records))
	}
	if by := h.records[2].ReapedBy; by == nil || by.PID != 10 {
		t.Errorf("reaped_by = %+v, want 10", by)
	}
	if s := h.Stats(); s.Lingering != 1 || s.Reaped != 1 || s.HandedOver != 1 || s.Zombies != 0 {
		t.Errorf("stats = %+v", s)
	}
}

func TestBlindWaitReapsOnFree(t *testing.T) {
	h := newHarness(t)
	parent, child := ref(100, 50), ref(200, 300)
	h.proc.process(100, "parent", 'S', 1, 50)
	h.proc.process(200, "child", 'Z', 100, 300)
	h.fork(3*time.Second, child, parent, chain(200))
	h.exit(4*time.Second, child, parent, chain(200), 0)
	h.expireAt(5 * time.Second)
	h.Handle(&event.Wait{Header: hdr(event.KindWait, 6*time.Second, parent),
		Syscall: event.SyscallWaitid, ArgsUnknown: true})
	h.Handle(&event.Free{Header: hdr(event.KindFree, 6100*time.Millisecond, child)})
	if len(h.records) != 2 {
		t.Fatalf("got %d records, want lingering and reaped", len(h.records))
	}
	r := h.records[1]
	if r.ReapedBy == nil || r.ReapedBy.PID != 100 || r.ReapNote != noteBlindWait {
		t.Errorf("reaped_by = %+v, note = %q; want 100 with the blind-wait note", r.ReapedBy, r.ReapNote)
	}
}

func TestParentPIDFilterOnHandover(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ParentPID = 10 })
	reaper, parent, child := ref(10, 5), ref(100, 50), ref(200, 300)
	h.proc.process(10, "init", 'S', 0, 5)
	h.proc.process(100, "parent", 'S', 10, 50)
	h.proc.process(200, "child", 'Z', 10, 300)
	h.fork(3*time.Second, child, parent, chain(200))
	h.exit(4*time.Second, child, parent, chain(200), 0)
	h.expireAt(5 * time.Second)
	if len(h.records) != 0 {
		t.Fatalf("got %d records for a zombie of parent 100 with the filter on 10", len(h.records))
	}
	h.Handle(&event.ChildSignal{Header: hdr(event.KindChildSignal, 6*time.Second, parent),
		Target: reaper, Signal: 17, Code: 1, ChildNSPID: 200})
	if len(h.records) != 1 || h.records[0].Type != report.TypeLingering {
		t.Fatalf("got %d records, want one lingering record once parent 10 holds it", len(h.records))
	}
}

func TestResyncAfterLostEvents(t *testing.T) {
	h := newHarness(t)
	parent, seen := ref(100, 50), ref(200, 300)
	h.proc.process(100, "parent", 'S', 1, 50)
	h.proc.process(200, "seen", 'Z', 100, 300)
	h.fork(3*time.Second, seen, parent, chain(200))
	h.exit(4*time.Second, seen, parent, chain(200), 0)
	h.expireAt(5 * time.Second)
	if len(h.records) != 1 {
		t.Fatalf("got %d records, want the lingering one", len(h.records))
	}

	// The reap of 200 and the whole life of 300 were lost.
	if err := os.RemoveAll(filepath.Join(h.proc.root, "200")); err != nil {
		t.Fatal(err)
	}
	h.proc.process(300, "unseen", 'Z', 100, 400)
	h.proc.write("300/status", "Name:\tunseen\nState:\tZ (zombie)\nPid:\t300\nPPid:\t100\nThreads:\t1\nNSpid:\t300\n")
	h.proc.write("300/cmdline", "")
	h.proc.write("300/cgroup", "0::/\n")
	if err := os.MkdirAll(filepath.Join(h.proc.root, "300/ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("pid:[4026531836]", filepath.Join(h.proc.root, "300/ns/pid")); err != nil {
		t.Fatal(err)
	}
	now := h.clock.wall(uint64(10 * time.Second))
	if err := h.Resync(now); err != nil {
		t.Fatal(err)
	}
	if len(h.records) != 2 || h.records[1].Type != report.TypeReaped || h.records[1].Zombie.PID != 200 {
		t.Fatalf("records = %d, want a reaped record for 200 that left unseen", len(h.records))
	}
	h.expireAt(10*time.Second + time.Second)
	if len(h.records) != 3 {
		t.Fatalf("got %d records, want a lingering record for 300", len(h.records))
	}
	r := h.records[2]
	if r.Zombie.PID != 300 || !r.Recovered || r.Parent == nil || r.Parent.PID != 100 {
		t.Errorf("record = %d recovered=%v parent=%+v; want 300, recovered, parent 100",
			r.Zombie.PID, r.Recovered, r.Parent)
	}
}

func TestExecResetsWaitHistory(t *testing.T) {
	h := newHarness(t)
	parent, child := ref(100, 50), ref(200, 300)
	h.proc.process(100, "parent", 'S', 1, 50)
	h.proc.process(200, "child", 'Z', 100, 300)
	h.Handle(&event.Wait{Header: hdr(event.KindWait, time.Second, parent), Syscall: event.SyscallWait4, ID: -1})
	h.Handle(&event.Exec{Header: hdr(event.KindExec, 2*time.Second, parent), Args: []string{"python3"}})
	h.Handle(&event.Wait{Header: hdr(event.KindWait, 2500*time.Millisecond, parent), Syscall: event.SyscallWait4, ID: 9})
	h.fork(3*time.Second, child, parent, chain(200))
	h.exit(4*time.Second, child, parent, chain(200), 0)
	h.expireAt(5 * time.Second)
	if len(h.records) != 1 {
		t.Fatalf("got %d records, want 1", len(h.records))
	}
	hist := h.records[0].Waits.History
	if hist == nil || hist.Calls != 1 || hist.AnyChild != 0 || hist.SpecificPIDs != 1 {
		t.Errorf("history = %+v, want only the call made after exec", hist)
	}
}

// TestNextDeadlineSkipsReapedChildren checks that children reaped or freed
// before their minimum age leave no timer behind, while a zombie does.
func TestNextDeadlineSkipsReapedChildren(t *testing.T) {
	h := newHarness(t)
	parent := ref(100, 50)
	h.proc.process(100, "parent", 'S', 1, 50)
	reaped, freed, zombie := ref(101, 60), ref(102, 60), ref(103, 60)
	for _, c := range []event.ProcRef{reaped, freed, zombie} {
		h.fork(time.Second, c, parent, chain(c.PID))
		h.exit(time.Second, c, parent, chain(c.PID), 0)
	}
	h.Handle(&event.Wait{Header: hdr(event.KindWait, time.Second, parent), Syscall: event.SyscallWait4,
		ID: 101, Return: 101, ChildPID: 101})
	h.Handle(&event.Free{Header: hdr(event.KindFree, time.Second, freed)})

	next, ok := h.NextDeadline()
	if !ok {
		t.Fatal("no deadline left for the zombie")
	}
	if want := h.clock.wall(uint64(2 * time.Second)); !next.Equal(want) {
		t.Errorf("next deadline = %v, want %v (the zombie's exit plus --min-age)", next, want)
	}
	if len(h.pending) != 1 {
		t.Errorf("%d checks pending, want only the zombie's", len(h.pending))
	}
	h.Handle(&event.Free{Header: hdr(event.KindFree, time.Second, zombie)})
	if _, ok := h.NextDeadline(); ok {
		t.Error("a deadline is left after every child was freed")
	}
}

// TestReapAfterMinAgeBeforeCheck feeds the reap of a zombie that outlived
// --min-age before its check runs, as a batch of events can, and expects
// the lingering record ahead of the reaped one.
func TestReapAfterMinAgeBeforeCheck(t *testing.T) {
	for _, end := range []string{"wait", "free"} {
		t.Run(end, func(t *testing.T) {
			h := newHarness(t)
			parent, child := h.deadChild()
			at := 2500 * time.Millisecond
			if end == "wait" {
				h.Handle(&event.Wait{Header: hdr(event.KindWait, at, parent), Syscall: event.SyscallWait4,
					ID: 101, Return: 101, ChildPID: 101})
			}
			h.Handle(&event.Free{Header: hdr(event.KindFree, at, child)})
			h.expireAt(3 * time.Second)

			if len(h.records) != 2 {
				t.Fatalf("%d records, want lingering then reaped: %+v", len(h.records), h.records)
			}
			if h.records[0].Type != report.TypeLingering || h.records[1].Type != report.TypeReaped {
				t.Errorf("record types = %s, %s; want lingering, reaped", h.records[0].Type, h.records[1].Type)
			}
			if age := h.records[0].AgeSeconds; age != 1 {
				t.Errorf("lingering age = %v s, want 1 (--min-age)", age)
			}
		})
	}
}

// TestReapBeforeMinAgeNotReported checks that a child reaped before
// --min-age leaves no record even when its check runs late.
func TestReapBeforeMinAgeNotReported(t *testing.T) {
	h := newHarness(t)
	parent, child := h.deadChild()
	h.Handle(&event.Wait{Header: hdr(event.KindWait, 1900*time.Millisecond, parent), Syscall: event.SyscallWait4,
		ID: 101, Return: 101, ChildPID: 101})
	h.Handle(&event.Free{Header: hdr(event.KindFree, 1900*time.Millisecond, child)})
	h.expireAt(3 * time.Second)
	if len(h.records) != 0 {
		t.Errorf("records = %+v, want none", h.records)
	}
}

// TestWaitidWithoutInfop checks that a waitid call with a NULL infop,
// which returns 0 without the reaped PID, is credited with the reap.
func TestWaitidWithoutInfop(t *testing.T) {
	for _, tt := range []struct {
		name   string
		idType uint32
		id     int64
		note   string
	}{
		{"P_PID", 1, 101, ""},
		{"P_ALL", 0, 0, noteBlindWait},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			parent, child := h.deadChild()
			h.expireAt(2 * time.Second)
			h.Handle(&event.Wait{Header: hdr(event.KindWait, 3*time.Second, parent), Syscall: event.SyscallWaitid,
				IDType: tt.idType, ID: tt.id, Options: optWEXITED})
			h.Handle(&event.Free{Header: hdr(event.KindFree, 3*time.Second, child)})

			if len(h.records) != 2 || h.records[1].Type != report.TypeReaped {
				t.Fatalf("records = %+v, want lingering then reaped", h.records)
			}
			r := h.records[1]
			if r.ReapedBy == nil || r.ReapedBy.PID != 100 {
				t.Errorf("reaped_by = %+v, want the parent 100", r.ReapedBy)
			}
			if r.ReapNote != tt.note {
				t.Errorf("reap note = %q, want %q", r.ReapNote, tt.note)
			}
		})
	}
}

// TestInjectedWaitOutOfHistory feeds the waitid call that --action reap
// makes a parent run and checks that it reaps the zombie with its own
// note and stays out of the parent's wait history.
func TestInjectedWaitOutOfHistory(t *testing.T) {
	var queried []int
	h := newHarness(t, func(c *Config) {
		c.Injected = func(parent, childNS int, options uint32) bool {
			queried = append(queried, parent, childNS)
			return parent == 100 && childNS == 101 && options == optWEXITED|optWNOHANG|optWALL
		}
	})
	parent, _ := h.deadChild()
	h.expireAt(2 * time.Second)
	h.Handle(&event.Wait{Header: hdr(event.KindWait, 3*time.Second, parent), Syscall: event.SyscallWaitid,
		IDType: idPID, ID: 101, Options: optWEXITED | optWNOHANG | optWALL, ChildPID: 101, ChildCode: cldExited})

	if len(queried) != 2 || queried[0] != 100 || queried[1] != 101 {
		t.Errorf("Injected was queried for %v, want parent 100 and child 101", queried)
	}
	if len(h.records) != 2 || h.records[1].Type != report.TypeReaped {
		t.Fatalf("records = %+v, want lingering then reaped", h.records)
	}
	if note := h.records[1].ReapNote; note != noteActionReap {
		t.Errorf("reap note = %q, want %q", note, noteActionReap)
	}
	if w := h.procs[refKey(parent)].waits; w != nil {
		t.Errorf("the injected call is in the parent's wait history: %+v", w)
	}
}

// TestParentCommAfterRename checks that a record names a running parent
// by the comm that /proc shows when the record is made, and keeps the
// traced one when the PID now belongs to another process.
func TestParentCommAfterRename(t *testing.T) {
	for _, tt := range []struct {
		name  string
		ticks uint64
		want  string
	}{
		{"renamed", 50, "renamed"},
		{"pid reused", 70, "parent"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.deadChild()
			h.proc.process(100, "renamed", 'S', 1, tt.ticks)
			h.expireAt(2 * time.Second)
			if len(h.records) != 1 || h.records[0].Parent == nil {
				t.Fatalf("records = %+v, want one lingering record with a parent", h.records)
			}
			if got := h.records[0].Parent.Comm; got != tt.want {
				t.Errorf("parent comm = %q, want %q", got, tt.want)
			}
		})
	}
}
