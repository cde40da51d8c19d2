package aggregate

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/report"
)

func record(typ string, pid, parent uint32, died time.Time, container *report.Container) report.Record {
	start := died.Add(-time.Second)
	return report.Record{
		Type:      typ,
		Time:      died.Add(5 * time.Second),
		DiedAt:    &died,
		Zombie:    report.Process{PID: pid, StartTime: start},
		Parent:    &report.Process{PID: parent, Comm: "parent"},
		Container: container,
		Diagnosis: &report.Diagnosis{Verdict: "never_waits"},
	}
}

func TestRowsByParentAndContainer(t *testing.T) {
	a := New()
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	c := &report.Container{Runtime: "docker", ID: "abc"}
	a.Observe(record(report.TypeLingering, 10, 1, base, c))
	a.Observe(record(report.TypeLingering, 11, 1, base.Add(10*time.Second), c))
	a.Observe(record(report.TypeLingering, 20, 2, base.Add(20*time.Second), nil))

	rows := a.Rows(base.Add(30 * time.Second))
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want 3: %+v", len(rows), rows)
	}
	first := rows[0]
	if first.Zombies != 2 {
		t.Errorf("first row holds %d zombies, want 2", first.Zombies)
	}
	if first.Oldest != 30*time.Second {
		t.Errorf("oldest = %s, want 30s", first.Oldest)
	}
	if first.NewPerMinute != 2 {
		t.Errorf("new per minute = %d, want 2", first.NewPerMinute)
	}
	if rows[2].Zombies != 1 || rows[2].Name != "2 parent" {
		t.Errorf("last row = %+v, want parent 2 with one zombie", rows[2])
	}
}

func TestReapedAndHandedOver(t *testing.T) {
	a := New()
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	a.Observe(record(report.TypeLingering, 10, 1, base, nil))
	a.Observe(record(report.TypeHandedOver, 10, 7, base, nil))
	rows := a.Rows(base.Add(time.Minute))
	if len(rows) != 1 || rows[0].Name != "7 parent" {
		t.Fatalf("rows = %+v, want the zombie under its new parent 7", rows)
	}
	a.Observe(record(report.TypeReaped, 10, 7, base, nil))
	if rows := a.Rows(base.Add(time.Minute)); len(rows) != 0 {
		t.Errorf("rows = %+v after the reap, want none", rows)
	}
}

func TestRateWindow(t *testing.T) {
	a := New()
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	a.Observe(record(report.TypeLingering, 10, 1, base, nil))
	rows := a.Rows(base.Add(5*time.Second + 2*time.Minute))
	if rows[0].NewPerMinute != 0 {
		t.Errorf("new per minute = %d two minutes later, want 0", rows[0].NewPerMinute)
	}
}

func TestWriteTable(t *testing.T) {
	var buf bytes.Buffer
	rows := []Row{{Kind: "parent", Name: "1 " + strings.Repeat("x", 100), Zombies: 3, Oldest: 90 * time.Second,
		NewPerMinute: 1, Verdict: "ns_init_waits_only_own"}}
	if err := WriteTable(&buf, rows, time.Now()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"ZOMBIES", "HELD BY", "ns_init_waits_only_own", "1m30s", "..."} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
