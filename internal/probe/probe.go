// Package probe loads zombietrace's BPF programs, attaches them to the
// kernel's tracepoints and reads their events from the ring buffer.
package probe

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/zombietrace/zombietrace/internal/event"
)

// DefaultRingBufferSize is the ring buffer size used when Options leaves it
// zero: 4 MiB, room for about 40,000 events between two reads.
const DefaultRingBufferSize = 4 << 20

// The programs wake the reader only once the ring buffer is more than
// 1/wakeupFraction full; below that, Read polls every pollInterval. The
// interval bounds how late an event reaches the tracker.
const (
	wakeupFraction = 4
	pollInterval   = 20 * time.Millisecond
)

// Options configure Load.
type Options struct {
	// RingBufferSize in bytes; a power of two and a multiple of the page
	// size. Zero means DefaultRingBufferSize.
	RingBufferSize int
	// Logger receives one line per attached hook; nil discards them.
	Logger *slog.Logger
}

// Probe is a set of loaded and attached BPF programs. Close it to detach.
type Probe struct {
	objs    zombietraceObjects
	links   []link.Link
	reader  *ringbuf.Reader
	tracefs *tracefsMount
	hooks   []string
	progIDs []uint32
	decoder Decoder
	// argsFromRegs is set when the wait programs read the arguments from
	// the registers at return, so the entry programs stay detached.
	argsFromRegs bool
}

// Load checks the kernel, loads the BPF programs, attaches every hook and
// opens the ring buffer. On error, nothing stays loaded or attached.
func Load(opts Options) (_ *Probe, err error) {
	if err := CheckKernel(); err != nil {
		return nil, err
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", err)
	}
	spec, err := loadZombietrace()
	if err != nil {
		return nil, fmt.Errorf("load BPF spec: %w", err)
	}
	size := opts.RingBufferSize
	if size == 0 {
		size = DefaultRingBufferSize
	}
	spec.Maps["events"].MaxEntries = uint32(size)
	if err := spec.Variables["wakeup_bytes"].Set(uint64(size / wakeupFraction)); err != nil {
		return nil, fmt.Errorf("set wakeup threshold: %w", err)
	}
	p := &Probe{argsFromRegs: haveTaskRegs()}
	if err := spec.Variables["args_from_regs"].Set(p.argsFromRegs); err != nil {
		return nil, fmt.Errorf("set wait argument source: %w", err)
	}

	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		return nil, loadError(err)
	}
	if p.argsFromRegs {
		// Unused, so not left loaded where bpftool would list them.
		p.objs.HandleWait4Enter.Close()
		p.objs.HandleWaitidEnter.Close()
	}
	if err := p.attach(opts.Logger); err != nil {
		return nil, err
	}
	p.reader, err = ringbuf.NewReader(p.objs.Events)
	if err != nil {
		return nil, fmt.Errorf("open ring buffer: %w", err)
	}
	return p, nil
}

func loadError(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("load BPF programs: verifier rejected them: %+v", ve)
	}
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("load BPF programs: %w", ErrPermission)
	}
	return fmt.Errorf("load BPF programs: %w", err)
}

// WaitArgsAtReturn reports whether the wait programs read a call's
// arguments when it returns, which captures them even for a call that
// began before Load. Kernels before 5.15 save them at entry instead.
func (p *Probe) WaitArgsAtReturn() bool { return p.argsFromRegs }

// Hooks returns the names of the attached hooks, in attach order.
func (p *Probe) Hooks() []string { return append([]string(nil), p.hooks...) }

// maxBatch bounds the events one Poll hands over, so that a ring buffer
// that never drains still lets the caller run its timers.
const maxBatch = 4096

// Poll passes each event to handle until maxBatch events were passed or
// the ring buffer is empty after until or after the poll interval,
// whichever comes first. The event is valid only during the call to
// handle. Poll returns how many events it passed. After Close, it returns
// an error that matches ringbuf.ErrClosed.
func (p *Probe) Poll(rec *ringbuf.Record, until time.Time, handle func(event.Event)) (int, error) {
	if latest := time.Now().Add(pollInterval); until.IsZero() || until.After(latest) {
		until = latest
	}
	p.reader.SetDeadline(until)
	for n := 0; n < maxBatch; n++ {
		err := p.reader.ReadInto(rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		ev, err := p.decoder.Decode(rec.RawSample)
		if err != nil {
			return n, err
		}
		handle(ev)
	}
	return maxBatch, nil
}

// Lost returns, per event kind, how many events the kernel could not put
// into the ring buffer because it was full, summed over all CPUs.
func (p *Probe) Lost() (map[event.Kind]uint64, error) {
	lost := make(map[event.Kind]uint64)
	for kind := event.KindFork; kind < event.KindMax; kind++ {
		var perCPU []uint64
		if err := p.objs.Lost.Lookup(uint32(kind), &perCPU); err != nil {
			return nil, fmt.Errorf("read lost counter for %s: %w", kind, err)
		}
		for _, n := range perCPU {
			lost[kind] += n
		}
	}
	return lost, nil
}

// Close detaches every hook, closes the ring buffer and frees the BPF
// objects, and unmounts tracefs if Load mounted it.
func (p *Probe) Close() error {
	var errs []error
	if p.reader != nil {
		errs = append(errs, p.reader.Close())
	}
	for _, l := range p.links {
		errs = append(errs, l.Close())
	}
	p.links = nil
	errs = append(errs, p.objs.Close())
	if p.tracefs != nil {
		errs = append(errs, p.tracefs.unmount())
		p.tracefs = nil
	}
	return errors.Join(errs...)
}
