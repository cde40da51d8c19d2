//go:build linux

package action

import (
	"context"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/zombietrace/zombietrace/internal/reaper"
	"github.com/zombietrace/zombietrace/internal/report"
)

// maxQueue bounds the records that Observe queues for Run. Observe drops
// records beyond it and logs the drop, so a stalled Run cannot grow memory
// without bound.
const maxQueue = 65536

// actionTimeout bounds one action. Reap waits up to this long for the parent
// thread to stop, and Run waits for in-flight actions after its context
// ends.
const actionTimeout = 10 * time.Second

// zombieKey identifies a zombie across PID reuse.
type zombieKey struct {
	pid   uint32
	start int64 // start time in Unix nanoseconds
}

// parentKey identifies a parent across PID reuse.
type parentKey struct {
	pid   uint32
	start int64
}

func keyOf(p report.Process) zombieKey { return zombieKey{p.PID, p.StartTime.UnixNano()} }

func parentKeyOf(r *report.Record) parentKey {
	if r.Parent == nil {
		return parentKey{}
	}
	return parentKey{r.Parent.PID, r.Parent.StartTime.UnixNano()}
}

// target is the engine's state for one lingering zombie.
type target struct {
	record report.Record // latest lingering or handed_over record
	// eligibleAt is when the zombie reaches Config.ActAfter.
	eligibleAt time.Time
	// nextAt is the earliest time of the next action, one interval after
	// the last one.
	nextAt   time.Time
	attempts int
	// skipReason is the reason of the last skip record, so that each
	// reason is emitted once.
	skipReason string
	dryRunDone bool
	inFlight   *attempt
	// awaiting is the last action that ran, while the engine waits for the
	// reaped record that confirms it.
	awaiting *attempt
	// reaped is a reaped record that arrived while an action was in flight.
	reaped *report.Record
}

// attempt is one action on one zombie.
type attempt struct {
	kind         string
	number       int
	start        time.Time
	deadline     time.Time
	parent       parentKey
	record       report.Record
	childNS      int
	waitedBefore bool
}

// parentState counts the failed actions in a row on one parent.
type parentState struct {
	failures int
	busy     bool
}

// result is the outcome of an action, sent from its goroutine to Run.
type result struct {
	key      zombieKey
	outcome  string
	reason   string
	duration time.Duration
}

// Engine decides on and carries out actions on lingering zombies. Create it
// with New, feed it records with Observe and run it with Run.
type Engine struct {
	cfg   Config
	rules rules
	proc  procView

	// signal and reap carry out the actions. Tests replace them.
	signal func(parent report.Process, sig syscall.Signal) error
	reap   func(ctx context.Context, parent report.Process, childNS int) (reaper.Result, error)

	mu      sync.Mutex
	queue   []report.Record
	dropped int
	wake    chan struct{}

	// The fields below belong to the goroutine that runs Run.
	targets  map[zombieKey]*target
	parents  map[parentKey]*parentState
	results  chan result
	inFlight int
	nextSlot time.Time
}

// New validates cfg, applies the defaults and returns an engine. With Mode
// off, the engine ignores every record.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	e := &Engine{
		cfg:     cfg,
		wake:    make(chan struct{}, 1),
		targets: make(map[zombieKey]*target),
		parents: make(map[parentKey]*parentState),
		results: make(chan result),
	}
	var err error
	e.rules = rules{mode: cfg.Mode, allowHostInit: cfg.AllowHostInit, selfPID: uint32(os.Getpid()),
		allowCgroups: cfg.AllowCgroups, denyCgroups: cfg.DenyCgroups}
	if e.rules.allowCommands, err = compileAll(cfg.AllowCommands); err != nil {
		return nil, err
	}
	if e.rules.denyCommands, err = compileAll(cfg.DenyCommands); err != nil {
		return nil, err
	}
	if e.proc, err = newProcView("/proc"); err != nil {
		return nil, err
	}
	if e.rules.selfPIDNamespace, err = ownPIDNamespace("/proc"); err != nil {
		// Reap mode then acts only where parent and zombie share a
		// namespace.
		cfg.Logger.Warn("own PID namespace unknown", "error", err)
	}
	e.signal = e.proc.sendSignal
	e.reap = func(ctx context.Context, parent report.Process, childNS int) (reaper.Result, error) {
		opts := reaper.Options{AllowInit: cfg.AllowHostInit, Logger: cfg.Logger, Injections: cfg.Injections}
		return e.proc.reap(ctx, parent, childNS, opts)
	}
	return e, nil
}

// Observe queues a record that the tracker emitted. It never blocks on an
// action and is safe to call from any goroutine. Records of type action are
// ignored.
func (e *Engine) Observe(r report.Record) {
	if e.cfg.Mode == ModeOff {
		return
	}
	switch r.Type {
	case report.TypeLingering, report.TypeHandedOver, report.TypeReaped:
	default:
		return
	}
	e.mu.Lock()
	dropped := 0
	if len(e.queue) >= maxQueue {
		e.dropped++
		dropped = e.dropped
	} else {
		e.queue = append(e.queue, r)
	}
	e.mu.Unlock()
	if dropped == 1 || dropped%1000 == 0 && dropped > 0 {
		e.cfg.Logger.Warn("action queue full: dropped records", "dropped_total", dropped, "queue", maxQueue)
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run handles the queued records and carries out actions, one at a time
// per parent, until ctx ends. It then waits for the actions in flight,
// emits their outcomes and returns. Call it once.
func (e *Engine) Run(ctx context.Context) {
	if e.cfg.Mode == ModeOff {
		<-ctx.Done()
		return
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e.handleQueued()
		next := e.schedule(ctx, time.Now())
		resetTimer(timer, next)
		select {
		case <-ctx.Done():
			for e.inFlight > 0 {
				e.handleResult(<-e.results)
			}
			return
		case <-e.wake:
		case res := <-e.results:
			e.handleResult(res)
		case <-timer.C:
		}
	}
}

func resetTimer(timer *time.Timer, next time.Time) {
	if next.IsZero() {
		timer.Reset(time.Hour)
		return
	}
	timer.Reset(max(time.Until(next), 0))
}

func (e *Engine) handleQueued() {
	e.mu.Lock()
	queue := e.queue
	e.queue = nil
	e.mu.Unlock()
	for i := range queue {
		e.handleRecord(&queue[i])
	}
}

func (e *Engine) handleRecord(r *report.Record) {
	key := keyOf(r.Zombie)
	t := e.targets[key]
	if r.Type == report.TypeReaped {
		if t != nil {
			e.handleReaped(key, t, r)
		}
		return
	}
	if t == nil {
		t = &target{}
		e.targets[key] = t
	}
	if parentKeyOf(&t.record) != parentKeyOf(r) {
		// A new parent gets the rules checked afresh.
		t.skipReason = ""
	}
	t.record = *r
	age := time.Duration(r.AgeSeconds * float64(time.Second))
	t.eligibleAt = r.Time.Add(e.cfg.ActAfter - age)
}

// handleReaped confirms the action that the reaped record r follows, if
// any, and drops the zombie's state.
func (e *Engine) handleReaped(key zombieKey, t *target, r *report.Record) {
	if t.inFlight != nil {
		// handleResult confirms once it has emitted the action's outcome.
		t.reaped = r
		return
	}
	if t.awaiting != nil && !r.Time.Before(t.awaiting.start) {
		e.confirm(t.awaiting, r)
	}
	delete(e.targets, key)
}

func (e *Engine) confirm(a *attempt, reaped *report.Record) {
	if p := e.parents[a.parent]; p != nil {
		p.failures = 0
	}
	e.emit(reaped, a, report.Action{
		Outcome:         report.OutcomeConfirmed,
		DurationSeconds: reaped.Time.Sub(a.start).Seconds(),
	})
}

// schedule expires the confirmations that are due, starts every action
// that is due and allowed, and returns when it next has work, or the zero
// time when only a record or a result can bring work.
func (e *Engine) schedule(ctx context.Context, now time.Time) time.Time {
	var next time.Time
	wakeAt := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	for key, t := range e.targets {
		if t.inFlight != nil {
			continue
		}
		if t.awaiting != nil {
			if now.Before(t.awaiting.deadline) {
				wakeAt(t.awaiting.deadline)
				continue
			}
			if e.expire(key, t) {
				continue
			}
		}
		if t.dryRunDone || !e.allowed(t) {
			continue
		}
		switch {
		case now.Before(t.eligibleAt):
			wakeAt(t.eligibleAt)
		case now.Before(t.nextAt):
			wakeAt(t.nextAt)
		case e.parent(parentKeyOf(&t.record)).busy:
			// The result of the parent's action wakes Run.
		case now.Before(e.nextSlot):
			wakeAt(e.nextSlot)
		default:
			e.nextSlot = now.Add(time.Duration(float64(time.Second) / e.cfg.Rate))
			e.start(ctx, key, t, now)
		}
	}
	e.forgetParents()
	return next
}

// allowed checks the rules and the parent's failures, and emits a skip
// record the first time a reason keeps the zombie from an action.
func (e *Engine) allowed(t *target) bool {
	reason := e.rules.check(&t.record)
	if reason == "" {
		if n := e.parent(parentKeyOf(&t.record)).failures; n >= e.cfg.MaxFailures {
			reason = fmt.Sprintf("gave up on the parent after %d failed actions in a row "+
				"(--action-max-failures)", n)
		}
	}
	if reason == "" {
		t.skipReason = ""
		return true
	}
	if reason != t.skipReason {
		t.skipReason = reason
		e.emit(&t.record, e.newAttempt(t, time.Now()), report.Action{Outcome: report.OutcomeSkipped,
			Reason: reason})
	}
	return false
}

// expire handles a confirmation that did not arrive within the interval.
// It returns true when the zombie is gone and was forgotten.
func (e *Engine) expire(key zombieKey, t *target) bool {
	a := t.awaiting
	t.awaiting = nil
	if !e.proc.stillZombie(t.record.Zombie) {
		e.cfg.Logger.Info("zombie gone without a reaped record; events may have been lost",
			"zombie_pid", t.record.Zombie.PID, "parent_pid", a.parent.pid, "attempt", a.number)
		delete(e.targets, key)
		return true
	}
	e.fail(a)
	e.emit(&t.record, a, report.Action{Outcome: report.OutcomeNoEffect,
		Reason: fmt.Sprintf("the zombie was still there %s after the action", e.cfg.Interval)})
	return false
}

func (e *Engine) fail(a *attempt) {
	p := e.parent(a.parent)
	p.failures++
	if p.failures == e.cfg.MaxFailures {
		e.cfg.Logger.Warn("giving up on parent after failed actions", "parent_pid", a.parent.pid,
			"failures", p.failures)
	}
}

func (e *Engine) parent(key parentKey) *parentState {
	p := e.parents[key]
	if p == nil {
		p = &parentState{}
		e.parents[key] = p
	}
	return p
}

// forgetParents drops the state of parents that no zombie refers to and
// that the engine has not given up on.
func (e *Engine) forgetParents() {
	if len(e.parents) <= len(e.targets) {
		return
	}
	used := make(map[parentKey]bool, len(e.targets))
	for _, t := range e.targets {
		used[parentKeyOf(&t.record)] = true
	}
	for key, p := range e.parents {
		if !used[key] && !p.busy && p.failures < e.cfg.MaxFailures {
			delete(e.parents, key)
		}
	}
}

func (e *Engine) newAttempt(t *target, now time.Time) *attempt {
	childNS, _ := e.rules.childPID(&t.record)
	return &attempt{
		kind:         e.cfg.Mode,
		number:       t.attempts + 1,
		start:        now,
		deadline:     now.Add(e.cfg.Interval),
		parent:       parentKeyOf(&t.record),
		record:       t.record,
		childNS:      childNS,
		waitedBefore: e.rules.waitedBefore(&t.record),
	}
}

// start emits the dry-run record, or starts the action on its own
// goroutine.
func (e *Engine) start(ctx context.Context, key zombieKey, t *target, now time.Time) {
	a := e.newAttempt(t, now)
	t.attempts++
	t.nextAt = a.deadline
	if e.cfg.DryRun {
		t.dryRunDone = true
		e.emit(&t.record, a, report.Action{Outcome: report.OutcomeDryRun, Reason: e.describe(a)})
		return
	}
	t.inFlight = a
	e.parent(a.parent).busy = true
	e.inFlight++
	actionCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), actionTimeout)
	go func() {
		defer cancel()
		e.results <- e.run(actionCtx, key, a)
	}()
}

// describe returns a sentence on what an action would do, for dry-run records.
func (e *Engine) describe(a *attempt) string {
	parent := a.record.Parent.PID
	if a.kind == ModeSignal {
		return fmt.Sprintf("would send %s to parent %d", signalName(e.cfg.Signal), parent)
	}
	return fmt.Sprintf("would make parent %d reap zombie %d (PID %d in the parent's namespace)",
		parent, a.record.Zombie.PID, a.childNS)
}

// run carries out one action. It runs on its own goroutine and touches no
// engine state.
func (e *Engine) run(ctx context.Context, key zombieKey, a *attempt) result {
	res := result{key: key, outcome: report.OutcomeDone}
	var err error
	if a.kind == ModeSignal {
		err = e.signal(*a.record.Parent, e.cfg.Signal)
		res.duration = time.Since(a.start)
	} else {
		var r reaper.Result
		r, err = e.reap(ctx, *a.record.Parent, a.childNS)
		res.duration = r.Duration
	}
	if err != nil {
		res.outcome, res.reason = classify(err), err.Error()
	}
	return res
}

// handleResult emits the outcome of an action, and the confirmation when
// the reaped record has already arrived.
func (e *Engine) handleResult(res result) {
	e.inFlight--
	t := e.targets[res.key]
	a := t.inFlight
	t.inFlight = nil
	e.parent(a.parent).busy = false
	e.emit(&a.record, a, report.Action{Outcome: res.outcome, Reason: res.reason,
		DurationSeconds: res.duration.Seconds()})
	if res.outcome == report.OutcomeDone {
		t.awaiting = a
	} else {
		e.fail(a)
	}
	if t.reaped != nil {
		e.handleReaped(res.key, t, t.reaped)
	}
}

// emit writes an action record based on r, logs it and counts it.
func (e *Engine) emit(r *report.Record, a *attempt, act report.Action) {
	act.Kind = a.kind
	if a.kind == ModeSignal {
		act.Signal = signalName(e.cfg.Signal)
	}
	act.DryRun = e.cfg.DryRun
	act.WaitedBefore = a.waitedBefore
	if act.Outcome != report.OutcomeSkipped {
		act.Attempt = a.number
	}
	out := *r
	out.Type = report.TypeAction
	out.Time = time.Now()
	out.Action = &act
	e.cfg.Emit(out)
	e.cfg.OnAction(act.Kind, act.Outcome)
	e.log(&out, &act)
}
