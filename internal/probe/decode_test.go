package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/zombietrace/zombietrace/internal/event"
)

func encode(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.NativeEndian, v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecodeExec(t *testing.T) {
	var e zombietraceExecEvent
	e.Hdr.Kind = uint32(event.KindExec)
	e.Hdr.Proc.Pid = 42
	e.Pids.Level = 1
	e.Pids.Nr = [4]uint32{42, 7}
	e.Pids.OwnNr = 7
	args := "python3\x00-c\x00print(1)\x00"
	for i := range args {
		e.Args[i] = int8(args[i])
	}
	e.ArgsLen = uint32(len(args))
	e.ArgsTotal = 2000
	copy(e.Comm[:], []int8{'p', 'y'})

	ev, err := Decode(encode(t, &e))
	if err != nil {
		t.Fatal(err)
	}
	exec, ok := ev.(*event.Exec)
	if !ok {
		t.Fatalf("decoded %T, want *event.Exec", ev)
	}
	if got := exec.Args; len(got) != 3 || got[2] != "print(1)" {
		t.Errorf("args = %q", got)
	}
	if !exec.Truncated {
		t.Error("truncated is not set although args_total exceeds args_len")
	}
	if exec.Comm != "py" {
		t.Errorf("comm = %q, want py", exec.Comm)
	}
	if nr, ok := exec.PIDs.At(1); !ok || nr != 7 {
		t.Errorf("pid at level 1 = %d, %v; want 7", nr, ok)
	}
	if exec.Proc.PID != 42 {
		t.Errorf("pid = %d, want 42", exec.Proc.PID)
	}
}

func TestDecodeShortRecord(t *testing.T) {
	var e zombietraceExitEvent
	e.Hdr.Kind = uint32(event.KindExit)
	raw := encode(t, &e)
	if _, err := Decode(raw[:len(raw)-1]); !errors.Is(err, ErrShortRecord) {
		t.Errorf("err = %v, want ErrShortRecord", err)
	}
	if _, err := Decode(raw[:3]); !errors.Is(err, ErrShortRecord) {
		t.Errorf("err = %v for a 3-byte record, want ErrShortRecord", err)
	}
}

func TestDecodeUnknownKind(t *testing.T) {
	var h zombietraceHeader
	h.Kind = 99
	if _, err := Decode(encode(t, &h)); err == nil {
		t.Error("Decode accepted kind 99")
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range []any{
		&zombietraceForkEvent{Hdr: zombietraceHeader{Kind: uint32(event.KindFork)}},
		&zombietraceExecEvent{Hdr: zombietraceHeader{Kind: uint32(event.KindExec)}, ArgsLen: 600},
		&zombietraceExitEvent{Hdr: zombietraceHeader{Kind: uint32(event.KindExit)}},
		&zombietraceChildSignalEvent{Hdr: zombietraceHeader{Kind: uint32(event.KindChildSignal)}},
		&zombietraceWaitEvent{Hdr: zombietraceHeader{Kind: uint32(event.KindWait)}},
		&zombietraceFreeEvent{Hdr: zombietraceHeader{Kind: uint32(event.KindFree)}},
	} {
		f.Add(encode(f, v))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := Decode(raw)
		if err == nil && ev == nil {
			t.Fatal("Decode returned neither an event nor an error")
		}
		if exec, ok := ev.(*event.Exec); ok && exec.PIDs.Known > 4 {
			t.Fatalf("PID chain longer than the captured levels: %d", exec.PIDs.Known)
		}
	})
}

func BenchmarkDecodeExit(b *testing.B) {
	var e zombietraceExitEvent
	e.Hdr.Kind = uint32(event.KindExit)
	raw := encode(b, &e)
	for b.Loop() {
		if _, err := Decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}
