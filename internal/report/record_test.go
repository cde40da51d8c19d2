package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func sampleRecord() Record {
	died := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	handed := died.Add(-2 * time.Second)
	code := 0
	parent := &Process{PID: 4300, NSPID: 1, PIDNamespace: 4026532001, StartTime: died.Add(-time.Minute),
		Comm: "python3", Cmdline: []string{"python3", "main.py"}, NSInit: true, Subreaper: true}
	return Record{
		Type: TypeLingering, Time: died.Add(5 * time.Second), DiedAt: &died, AgeSeconds: 5,
		Zombie: Process{PID: 4321, NSPID: 8, PIDNamespace: 4026532001, StartTime: died.Add(-3 * time.Second),
			Comm: "python3", Cmdline: []string{"python3", "-c", "x"}, CmdlineTruncated: true, Exited: true},
		Exit:           &ExitStatus{Code: &code, Signal: "SIGKILL", CoreDumped: true},
		Parent:         parent,
		OriginalParent: &Process{PID: 4310, NSPID: 7, Comm: "python3", Exited: true},
		Creator:        &Process{PID: 4309, NSPID: 6, Comm: "python3"},
		Lineage:        []Ancestor{{PID: 4309, NSPID: 6, Comm: "python3", Cmdline: []string{"python3"}}},
		Origin: &Origin{Kind: "container_exec", Runtime: "containerd", Shim: Ancestor{PID: 20, NSPID: 20,
			Comm: "containerd-shim"}, Entry: Ancestor{PID: 30, NSPID: 7, Comm: "sh"}},
		Handovers: []Handover{{Time: &handed, From: Process{PID: 4310}, To: Process{PID: 4300}, Dead: true}},
		SIGCHLD: &SIGCHLD{Disposition: "default", Flags: []string{"SA_RESTART"}, Blocked: true,
			Delivery: "ignored"},
		Waits: &Waits{Summary: WaitOtherPIDs, Calls: 1, Recent: []WaitCall{{Time: died, Syscall: "wait4",
			Target: "pid 52", Options: []string{"WNOHANG"}, Return: 52, Child: 52}},
			History: &WaitHistory{Calls: 3, AnyChild: 1, SpecificPIDs: 2, Since: died}},
		ReapedBy:     parent,
		ReapNote:     "note",
		Cgroup:       "/system.slice/x.service",
		CgroupID:     1234,
		FoundAtStart: true,
		Recovered:    true,
		Tracer:       &Process{PID: 99},
		ThreadsAlive: true,
		Container:    &Container{Runtime: "containerd", ID: "abc", PodUID: "uid", Unit: "unit"},
		Diagnosis:    &Diagnosis{Verdict: "v", Summary: "s", Evidence: []string{"e"}, Fix: "f"},
		Action: &Action{Kind: "reap", Signal: "SIGCHLD", Outcome: OutcomeDone, Reason: "r", DryRun: true,
			Attempt: 1, DurationSeconds: 0.001, WaitedBefore: true},
	}
}

// TestJSONSchemaGolden holds the JSON field names and shapes stable: a
// change to them must update the golden file and docs/output.md together.
func TestJSONSchemaGolden(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(FormatJSON, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(sampleRecord()); err != nil {
		t.Fatal(err)
	}
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, buf.Bytes(), "", "  "); err != nil {
		t.Fatal(err)
	}
	golden := "testdata/record.golden.json"
	if *update {
		if err := os.WriteFile(golden, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("JSON output changed; if on purpose, run go test -update and update docs/output.md\ngot:\n%s", pretty.String())
	}
}

// TestSchemaDocumented checks that docs/output.md names every JSON field.
func TestSchemaDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/output.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range jsonFieldNames(reflect.TypeOf(Record{}), reflect.TypeOf(Summary{})) {
		if !regexp.MustCompile("`" + regexp.QuoteMeta(name) + "`").Match(doc) {
			t.Errorf("docs/output.md does not document field %q", name)
		}
	}
}

func jsonFieldNames(types ...reflect.Type) []string {
	seen := map[string]bool{}
	var names []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == reflect.TypeOf(time.Time{}) {
			return
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "" && !seen[name] {
				seen[name] = true
				names = append(names, name)
			}
			walk(f.Type)
		}
	}
	for _, t := range types {
		walk(t)
	}
	return names
}

func TestJSONValidForInvalidUTF8(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(FormatJSON, &buf)
	r := sampleRecord()
	r.Zombie.Comm = "bad\xff\xfe"
	r.Zombie.Cmdline = []string{"a\x00b", "\xc3("}
	if err := w.Write(r); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(buf.Bytes()) {
		t.Errorf("invalid JSON: %q", buf.String())
	}
}

func TestTextLine(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(FormatText, &buf)
	r := sampleRecord()
	r.FoundAtStart = false
	r.Recovered = false
	if err := w.Write(r); err != nil {
		t.Fatal(err)
	}
	line := buf.String()
	for _, want := range []string{" lingering ", "pid=4321", "ns_pid=8", "age=5s", "exit=0",
		"parent=4300", "parent_ns_pid=1", "parent_role=ns-init", `parent_cmd="python3 main.py"`,
		"original_parent=4310", "sigchld=default,SA_RESTART,blocked", "sigchld_delivery=ignored",
		"waits=only_other_pids", "wait_calls=1", `recent_waits="wait4(pid 52,WNOHANG)=52"`,
		"cgroup=/system.slice/x.service", "container=containerd:abc", "pod_uid=uid",
		"origin=container_exec:containerd", "origin_entry=30", "verdict=v", `why="s"`, `fix="f"`, "action=reap outcome=done", "waited_before=true"} {
		if !strings.Contains(line, want) {
			t.Errorf("text line lacks %q:\n%s", want, line)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("text record spans %d lines, want 1", strings.Count(line, "\n"))
	}
}

func TestInvalidFormat(t *testing.T) {
	if _, err := NewWriter("yaml", &bytes.Buffer{}); err == nil {
		t.Error("NewWriter accepted format yaml")
	}
}

func TestTextMarksScannedZombies(t *testing.T) {
	for _, tt := range []struct {
		name string
		set  func(*Record)
		want string
	}{
		{"found at start", func(r *Record) { r.Recovered = false }, "found_at_start=true age>=5s"},
		{"recovered", func(r *Record) { r.FoundAtStart = false }, "recovered=true age>=5s"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w, _ := NewWriter(FormatText, &buf)
			r := sampleRecord()
			tt.set(&r)
			if err := w.Write(r); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), tt.want) {
				t.Errorf("text line lacks %q:\n%s", tt.want, buf.String())
			}
		})
	}
}

func TestFormatAge(t *testing.T) {
	for _, tt := range []struct {
		seconds float64
		want    string
	}{
		{0.0574, "57ms"},
		{0.9996, "1s"},
		{5.04, "5s"},
		{12.345, "12.3s"},
	} {
		if got := formatAge(tt.seconds); got != tt.want {
			t.Errorf("formatAge(%v) = %q, want %q", tt.seconds, got, tt.want)
		}
	}
}
