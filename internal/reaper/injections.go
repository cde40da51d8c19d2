package reaper

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// InjectedOptions are the options of the waitid call that a reap makes
// the parent run.
const InjectedOptions = unix.WEXITED | unix.WNOHANG | unix.WALL

// injectionTTL is how long an injected call is remembered. A tracer gets
// the event of the call within milliseconds of the reap.
const injectionTTL = time.Minute

// Injections remembers the waitid calls that reaps made parents run, so
// that a tracer can tell them from the parents' own calls. The zero value
// is ready to use, and it is safe for concurrent use.
type Injections struct {
	mu    sync.Mutex
	calls map[injectedCall]time.Time
}

type injectedCall struct {
	parent  int // PID of the parent in the caller's PID namespace
	childNS int // PID of the child in the parent's PID namespace
}

func (in *Injections) add(parent, childNS int, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.calls == nil {
		in.calls = make(map[injectedCall]time.Time)
	}
	for k, at := range in.calls {
		if now.Sub(at) > injectionTTL {
			delete(in.calls, k)
		}
	}
	in.calls[injectedCall{parent, childNS}] = now
}

// Take reports whether a waitid(P_PID, childNS) call with these options in
// the process parent was one that a reap made it run, and removes it.
func (in *Injections) Take(parent, childNS int, options uint32) bool {
	if options != InjectedOptions {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	k := injectedCall{parent, childNS}
	if _, ok := in.calls[k]; !ok {
		return false
	}
	delete(in.calls, k)
	return true
}
