package procfs

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestReadStatusFixtures(t *testing.T) {
	tests := []struct {
		pid  int
		want Status
	}{
		{3668, Status{Name: "sleep", State: 'S', TGID: 3668, PID: 3668, PPID: 3665, Threads: 1,
			NStgid: []int{3668}, NSpid: []int{3668}, SigIgn: 0x6}},
		{3616, Status{Name: "a b) (c\xff\xfe) z", State: 'Z', TGID: 3616, PID: 3616, PPID: 3614,
			Threads: 1, NStgid: []int{3616}, NSpid: []int{3616}, SigIgn: 0x6, SigCgt: 0x10000}},
		{2, Status{Name: "kthreadd", State: 'S', TGID: 2, PID: 2, PPID: 0, Threads: 1,
			NStgid: []int{2}, NSpid: []int{2}, SigIgn: 0xffffffffffffffff}},
		{3799, Status{Name: "t\tb\\s\nl) (q\xff", State: 'S', TGID: 3799, PID: 3799, PPID: 3796,
			Threads: 1, NStgid: []int{3799}, NSpid: []int{3799}, SigIgn: 0x1001006}},
	}
	for _, tt := range tests {
		got, err := ReadStatus(fixtureRoot, tt.pid)
		if err != nil {
			t.Errorf("ReadStatus(%d): %v", tt.pid, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ReadStatus(%d) =\n%+v\nwant\n%+v", tt.pid, got, tt.want)
		}
	}
}

// The zombie fixture is a bash that ignored SIGINT and SIGQUIT and had a
// handler only for SIGCHLD. Bit n-1 of a mask is signal n.
func TestStatusSignalMaskBits(t *testing.T) {
	const sigint, sigquit, sigchld = 2, 3, 17
	status, err := ReadStatus(fixtureRoot, 3616)
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range []int{sigint, sigquit} {
		if status.SigIgn&(1<<(sig-1)) == 0 {
			t.Errorf("signal %d not in SigIgn %#x", sig, status.SigIgn)
		}
	}
	if status.SigCgt != 1<<(sigchld-1) {
		t.Errorf("SigCgt = %#x, want only SIGCHLD", status.SigCgt)
	}
}

func TestParseStatusNestedNamespaces(t *testing.T) {
	data := "Name:\tsh\nState:\tS (sleeping)\nTgid:\t4321\nPid:\t4321\nPPid:\t4000\n" +
		"TracerPid:\t77\nNStgid:\t4321\t12\t1\nNSpid:\t4321\t12\t1\nThreads:\t1\n"
	status, err := ParseStatus([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{4321, 12, 1}; !slices.Equal(status.NSpid, want) {
		t.Errorf("NSpid = %v, want %v", status.NSpid, want)
	}
	if want := []int{4321, 12, 1}; !slices.Equal(status.NStgid, want) {
		t.Errorf("NStgid = %v, want %v", status.NStgid, want)
	}
	if status.TracerPID != 77 {
		t.Errorf("TracerPID = %d, want 77", status.TracerPID)
	}
}

func TestParseStatusMissingLine(t *testing.T) {
	full := "Name:\tsh\nState:\tS (sleeping)\nPid:\t1\nPPid:\t0\n"
	for _, key := range []string{"Name", "State", "Pid", "PPid"} {
		var kept []string
		for line := range strings.Lines(full) {
			if !strings.HasPrefix(line, key+":") {
				kept = append(kept, line)
			}
		}
		_, err := ParseStatus([]byte(strings.Join(kept, "")))
		if !errors.Is(err, errMissingStatusLine) {
			t.Errorf("without %s: error %v, want errMissingStatusLine", key, err)
		}
	}
}

func TestParseStatusInvalidValue(t *testing.T) {
	base := "Name:\tsh\nState:\tS (sleeping)\nPid:\t1\nPPid:\t0\n"
	for _, line := range []string{
		"Pid:\tx\n",
		"State:\t\n",
		"NSpid:\t1\tx\n",
		"SigCgt:\tzz\n",
		"SigBlk:\t10000000000000000\n", // 65 bits
	} {
		if _, err := ParseStatus([]byte(base + line)); err == nil {
			t.Errorf("ParseStatus with %q succeeded, want error", line)
		}
	}
}

func TestUnescapeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{`a\nb`, "a\nb"},
		{`a\\nb`, `a\nb`},
		{`trailing\`, `trailing\`},
		{`\x`, `\x`},
	}
	for _, tt := range tests {
		if got := unescapeName(tt.in); got != tt.want {
			t.Errorf("unescapeName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
