package probe

import (
	"bytes"
	"errors"
	"fmt"
	"unsafe"

	"github.com/zombietrace/zombietrace/internal/event"
)

// ErrShortRecord is returned for a ring buffer record smaller than the
// event its header announces.
var ErrShortRecord = errors.New("short event record")

// Decoder converts ring buffer records into events. It fills one value
// per event kind instead of allocating one per record, and reuses the
// string of a repeated comm, because a fork storm otherwise gives the
// garbage collector more work than the rest of zombietrace together.
// The zero value is ready to use; it is not safe for concurrent use.
type Decoder struct {
	fork   event.Fork
	exec   event.Exec
	exit   event.Exit
	signal event.ChildSignal
	wait   event.Wait
	free   event.Free
	// lastComm and lastCommBytes are the latest comm, which a storm
	// of forks repeats in every event.
	lastComm      string
	lastCommBytes [16]int8
}

// Decode converts one record. The event it returns, and what it points
// to except strings and slices, is overwritten by the next call.
func (d *Decoder) Decode(raw []byte) (event.Event, error) {
	hdr, err := view[zombietraceHeader](raw)
	if err != nil {
		return nil, err
	}
	h := event.Header{TimeNs: hdr.TimeNs, Kind: event.Kind(hdr.Kind), Proc: ref(hdr.Proc)}
	switch h.Kind {
	case event.KindFork:
		return d.decodeFork(raw, h)
	case event.KindExec:
		return d.decodeExec(raw, h)
	case event.KindExit:
		return d.decodeExit(raw, h)
	case event.KindChildSignal:
		return d.decodeChildSignal(raw, h)
	case event.KindWait:
		return d.decodeWait(raw, h)
	case event.KindFree:
		d.free = event.Free{Header: h}
		return &d.free, nil
	}
	return nil, fmt.Errorf("decode event: unknown kind %d", hdr.Kind)
}

// Decode converts one record into an event that the caller owns.
func Decode(raw []byte) (event.Event, error) {
	return new(Decoder).Decode(raw)
}

// view returns the record as a *T without copying. The generated types
// have the C layout (structs.HostLayout), and the fields are copied out
// before the record buffer is reused. Reflection-based decoding cost more
// CPU than the rest of the tracker under a fork storm.
func view[T any](raw []byte) (*T, error) {
	var zero T
	if len(raw) < int(unsafe.Sizeof(zero)) {
		return nil, fmt.Errorf("%w: %d bytes, want %d", ErrShortRecord, len(raw), unsafe.Sizeof(zero))
	}
	return (*T)(unsafe.Pointer(unsafe.SliceData(raw))), nil
}

func (d *Decoder) decodeFork(raw []byte, h event.Header) (event.Event, error) {
	e, err := view[zombietraceForkEvent](raw)
	if err != nil {
		return nil, err
	}
	d.fork = event.Fork{
		Header:   h,
		Parent:   ref(e.Parent),
		Creator:  ref(e.Creator),
		PIDs:     chain(e.Pids),
		CgroupID: e.CgroupId,
		Comm:     d.comm(&e.Comm),
	}
	return &d.fork, nil
}

func (d *Decoder) decodeExec(raw []byte, h event.Header) (event.Event, error) {
	e, err := view[zombietraceExecEvent](raw)
	if err != nil {
		return nil, err
	}
	n := min(int(e.ArgsLen), len(e.Args))
	d.exec = event.Exec{
		Header:    h,
		PIDs:      chain(e.Pids),
		CgroupID:  e.CgroupId,
		OldTID:    e.OldTid,
		Comm:      d.comm(&e.Comm),
		Args:      splitArgs(int8Bytes(e.Args[:n])),
		Truncated: e.ArgsTotal > e.ArgsLen,
	}
	return &d.exec, nil
}

func (d *Decoder) decodeExit(raw []byte, h event.Header) (event.Event, error) {
	e, err := view[zombietraceExitEvent](raw)
	if err != nil {
		return nil, err
	}
	d.exit = event.Exit{
		Header:      h,
		Parent:      ref(e.Parent),
		Tracer:      ref(e.Tracer),
		PIDs:        chain(e.Pids),
		ParentState: parentState(e.ParentState),
		CgroupID:    e.CgroupId,
		ExitCode:    e.ExitCode,
		ExitSignal:  e.ExitSignal,
		Flags:       e.Flags,
		TID:         e.Tid,
		Comm:        d.comm(&e.Comm),
	}
	return &d.exit, nil
}

func (d *Decoder) decodeChildSignal(raw []byte, h event.Header) (event.Event, error) {
	e, err := view[zombietraceChildSignalEvent](raw)
	if err != nil {
		return nil, err
	}
	d.signal = event.ChildSignal{
		Header:      h,
		Target:      ref(e.Target),
		TargetState: parentState(e.TargetState),
		Signal:      e.Sig,
		Code:        e.SiCode,
		ChildNSPID:  e.SiPid,
		Status:      e.SiStatus,
		Result:      e.Result,
		Self:        e.Self != 0,
	}
	return &d.signal, nil
}

func (d *Decoder) decodeWait(raw []byte, h event.Header) (event.Event, error) {
	e, err := view[zombietraceWaitEvent](raw)
	if err != nil {
		return nil, err
	}
	d.wait = event.Wait{
		Header:      h,
		EnterNs:     e.EnterNs,
		Return:      e.Ret,
		ID:          e.Id,
		Syscall:     e.Syscall,
		IDType:      e.Idtype,
		Options:     e.Options,
		ChildPID:    e.ChildPid,
		ChildCode:   e.ChildCode,
		PIDLevel:    e.PidLevel,
		TID:         e.Tid,
		ArgsUnknown: e.ArgsUnknown != 0,
	}
	return &d.wait, nil
}

func ref(r zombietraceProcRef) event.ProcRef {
	return event.ProcRef{PID: r.Pid, StartNs: r.StartNs}
}

func chain(c zombietracePidChain) event.PIDChain {
	levels := min(int(c.Level)+1, len(c.Nr))
	return event.PIDChain{
		NR:      c.Nr,
		Known:   uint8(levels),
		Level:   c.Level,
		OwnNR:   c.OwnNr,
		NSInode: c.NsInum,
	}
}

func parentState(s zombietraceParentState) event.ParentState {
	return event.ParentState{
		SigchldHandler: s.SigchldHandler,
		SigchldFlags:   s.SigchldFlags,
		SigchldBlocked: s.SigchldBlocked != 0,
		TaskState:      s.TaskState,
		TaskFlags:      s.TaskFlags,
		SignalFlags:    s.SignalFlags,
		Subreaper:      s.Subreaper != 0,
		PIDLevel:       s.PidLevel,
		NSInode:        s.NsInum,
	}
}

// comm returns the string of a comm, reusing the last one when the bytes
// are the same.
func (d *Decoder) comm(c *[16]int8) string {
	if *c == d.lastCommBytes && d.lastComm != "" {
		return d.lastComm
	}
	d.lastCommBytes = *c
	d.lastComm = cString(c[:])
	return d.lastComm
}

func int8Bytes(s []int8) []byte {
	b := make([]byte, len(s))
	for i, c := range s {
		b[i] = byte(c)
	}
	return b
}

func cString(s []int8) string {
	b := int8Bytes(s)
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// splitArgs splits a NUL-separated command line, dropping the final NUL.
func splitArgs(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	args := make([]string, len(parts))
	for i, p := range parts {
		args[i] = string(p)
	}
	return args
}
