// Package aggregate groups lingering zombies by the parent that holds them
// and by container, for the live view of zombietrace top.
package aggregate

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zombietrace/zombietrace/internal/report"
)

// rateWindow is the period over which the rate of new zombies is counted.
const rateWindow = time.Minute

// Row is one group of lingering zombies.
type Row struct {
	// Kind is "parent" or "container".
	Kind string
	// Name is "PID command" for a parent, or "runtime:id" for a container.
	Name    string
	Zombies int
	// Oldest is the age of the oldest zombie in the group.
	Oldest time.Duration
	// NewPerMinute counts zombies reported in the last minute.
	NewPerMinute int
	// Verdict is the diagnosis of the group's newest zombie.
	Verdict string
}

type zombieKey struct {
	pid   uint32
	start time.Time
}

type zombie struct {
	parent    string
	container string
	diedAt    time.Time
	verdict   string
}

// Aggregator keeps the lingering zombies. It is safe for concurrent use.
type Aggregator struct {
	mu      sync.Mutex
	zombies map[zombieKey]zombie
	// born holds when each group's zombies were reported, for the rate.
	born map[string][]time.Time
}

// New returns an empty Aggregator.
func New() *Aggregator {
	return &Aggregator{zombies: make(map[zombieKey]zombie), born: make(map[string][]time.Time)}
}

// Observe applies one record: lingering adds a zombie, reaped removes it,
// handed_over moves it to its new parent.
func (a *Aggregator) Observe(r report.Record) {
	if r.ThreadsAlive {
		return
	}
	key := zombieKey{pid: r.Zombie.PID, start: r.Zombie.StartTime}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch r.Type {
	case report.TypeLingering, report.TypeHandedOver:
		z := zombie{parent: parentName(r.Parent), container: containerName(r.Container), diedAt: r.Time}
		if r.DiedAt != nil {
			z.diedAt = *r.DiedAt
		}
		if r.Diagnosis != nil {
			z.verdict = r.Diagnosis.Verdict
		}
		// A zombie found by a /proc scan died at an unknown time: it
		// counts as held, not as new.
		if _, seen := a.zombies[key]; !seen && !r.FoundAtStart && !r.Recovered {
			a.born["parent "+z.parent] = append(a.born["parent "+z.parent], r.Time)
			if z.container != "" {
				a.born["container "+z.container] = append(a.born["container "+z.container], r.Time)
			}
		}
		a.zombies[key] = z
	case report.TypeReaped:
		delete(a.zombies, key)
	}
}

// Rows returns the groups sorted by zombies held, most first.
func (a *Aggregator) Rows(now time.Time) []Row {
	a.mu.Lock()
	defer a.mu.Unlock()
	groups := make(map[string]*Row)
	add := func(kind, name string, z zombie) {
		id := kind + " " + name
		row := groups[id]
		if row == nil {
			row = &Row{Kind: kind, Name: name}
			groups[id] = row
		}
		row.Zombies++
		row.Oldest = max(row.Oldest, now.Sub(z.diedAt))
		if z.verdict != "" {
			row.Verdict = z.verdict
		}
	}
	for _, z := range a.zombies {
		add("parent", z.parent, z)
		if z.container != "" {
			add("container", z.container, z)
		}
	}
	rows := make([]Row, 0, len(groups))
	for id, row := range groups {
		row.NewPerMinute = a.recent(id, now)
		rows = append(rows, *row)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Zombies != rows[j].Zombies {
			return rows[i].Zombies > rows[j].Zombies
		}
		return rows[i].Kind+rows[i].Name < rows[j].Kind+rows[j].Name
	})
	return rows
}

// recent counts the births of a group within rateWindow and drops older ones.
func (a *Aggregator) recent(id string, now time.Time) int {
	times := a.born[id]
	i := 0
	for i < len(times) && now.Sub(times[i]) > rateWindow {
		i++
	}
	a.born[id] = times[i:]
	return len(times) - i
}

func parentName(p *report.Process) string {
	if p == nil {
		return "unknown"
	}
	cmd := p.Comm
	if len(p.Cmdline) > 0 {
		cmd = strings.Join(p.Cmdline, " ")
	}
	return fmt.Sprintf("%d %s", p.PID, cmd)
}

func containerName(c *report.Container) string {
	if c == nil {
		return ""
	}
	if c.ID == "" {
		return c.Runtime + ":" + c.Unit
	}
	return c.Runtime + ":" + c.ID
}
