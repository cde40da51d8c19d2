//go:build linux

package action

import (
	"flag"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zombietrace/zombietrace/internal/report"
)

func parseActionFlags(t *testing.T, args ...string) *Config {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg := RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return cfg
}

func TestRegisterFlagsDefaults(t *testing.T) {
	cfg := parseActionFlags(t)
	if cfg.Mode != ModeOff {
		t.Errorf("mode = %q, want off", cfg.Mode)
	}
	if cfg.Interval != DefaultInterval {
		t.Errorf("interval = %s, want %s", cfg.Interval, DefaultInterval)
	}
	if cfg.Rate != DefaultRate {
		t.Errorf("rate = %v, want %v", cfg.Rate, DefaultRate)
	}
	if cfg.MaxFailures != DefaultMaxFailures {
		t.Errorf("max failures = %d, want %d", cfg.MaxFailures, DefaultMaxFailures)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate on defaults: %v", err)
	}
}

func TestRegisterFlagsValues(t *testing.T) {
	cfg := parseActionFlags(t, "--action", "signal", "--signal", "usr1", "--dry-run", "--act-after", "1m",
		"--action-allow-cmd", "^python", "--action-allow-cmd", "node", "--action-deny-cmd", "sshd",
		"--action-allow-cgroup", "/kubepods", "--action-deny-cgroup", "/system.slice",
		"--action-allow-host-init", "--action-interval", "3s", "--action-rate", "0.5",
		"--action-max-failures", "7")
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"mode", cfg.Mode, ModeSignal},
		{"signal", cfg.Signal, syscall.SIGUSR1},
		{"dry run", cfg.DryRun, true},
		{"act after", cfg.ActAfter, time.Minute},
		{"allow cmd", strings.Join(cfg.AllowCommands, ","), "^python,node"},
		{"deny cmd", strings.Join(cfg.DenyCommands, ","), "sshd"},
		{"allow cgroup", strings.Join(cfg.AllowCgroups, ","), "/kubepods"},
		{"deny cgroup", strings.Join(cfg.DenyCgroups, ","), "/system.slice"},
		{"allow host init", cfg.AllowHostInit, true},
		{"interval", cfg.Interval, 3 * time.Second},
		{"rate", cfg.Rate, 0.5},
		{"max failures", cfg.MaxFailures, 7},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"unknown mode", []string{"--action", "kill"}, `invalid --action "kill"`},
		{"unknown signal", []string{"--signal", "SIGFOO"}, `unknown signal name "SIGFOO"`},
		{"signal number too large", []string{"--signal", "65"}, `unknown signal name "65"`},
		{"bad regexp", []string{"--action-deny-cmd", "("}, `invalid regular expression "(" for --action-deny-cmd`},
		{"negative act-after", []string{"--act-after", "-1s"}, "invalid --act-after -1s"},
		{"negative interval", []string{"--action-interval", "-2s"}, "invalid --action-interval -2s"},
		{"negative rate", []string{"--action-rate", "-1"}, "invalid --action-rate -1"},
		{"negative max failures", []string{"--action-max-failures", "-1"}, "invalid --action-max-failures -1"},
		{"relative cgroup", []string{"--action-allow-cgroup", "kubepods"}, `invalid cgroup prefix "kubepods"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := parseActionFlags(t, tc.args...).Validate()
			if err == nil {
				t.Fatalf("Validate accepted %q", tc.args)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestValidateListsEveryError(t *testing.T) {
	err := parseActionFlags(t, "--action", "x", "--act-after", "-1s").Validate()
	if err == nil {
		t.Fatal("Validate accepted two invalid values")
	}
	if lines := strings.Count(err.Error(), "\n") + 1; lines != 2 {
		t.Errorf("error has %d lines, want one per invalid value:\n%s", lines, err)
	}
}

func TestChildPIDRule(t *testing.T) {
	const self = 4026531836
	ru := rules{selfPIDNamespace: self}
	cases := []struct {
		name      string
		parentNS  uint32
		zombieNS  uint32
		want      int
		wantKnown bool
	}{
		{"same namespace as the zombie", 4026532001, 4026532001, 8, true},
		{"parent in zombietrace's namespace", self, 4026532001, 4321, true},
		{"parent in another namespace", 4026532002, 4026532001, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := report.Record{
				Zombie: report.Process{PID: 4321, NSPID: 8, PIDNamespace: tc.zombieNS},
				Parent: &report.Process{PID: 4300, NSPID: 1, PIDNamespace: tc.parentNS},
			}
			got, known := ru.childPID(&r)
			if known != tc.wantKnown {
				t.Fatalf("known = %v, want %v", known, tc.wantKnown)
			}
			if got != tc.want {
				t.Errorf("child PID = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestWaitedBefore(t *testing.T) {
	ru := rules{}
	r := report.Record{
		Zombie: report.Process{PID: 4321, NSPID: 8, PIDNamespace: 7},
		Parent: &report.Process{PID: 4300, NSPID: 1, PIDNamespace: 7},
		Waits:  &report.Waits{Recent: []report.WaitCall{{Syscall: "wait4", Target: "pid 52"}}},
	}
	if ru.waitedBefore(&r) {
		t.Error("waitedBefore = true for calls for another PID")
	}
	r.Waits.Recent = append(r.Waits.Recent, report.WaitCall{Syscall: "waitid", Target: "pid 8"})
	if !ru.waitedBefore(&r) {
		t.Error("waitedBefore = false with a call for the zombie's namespace PID")
	}
}

func TestCgroupRules(t *testing.T) {
	ru := rules{allowCgroups: []string{"/kubepods/"}, denyCgroups: []string{"/kubepods/besteffort"}}
	cases := []struct {
		cgroup   string
		wantSkip bool
	}{
		{"/kubepods/burstable/pod1", false},
		{"/kubepods", false},
		{"/kubepods2/x", true},
		{"/kubepods/besteffort/pod2", true},
		{"/system.slice/cron.service", true},
		{"", true},
	}
	for _, tc := range cases {
		if reason := ru.checkCgroup(tc.cgroup); (reason != "") != tc.wantSkip {
			t.Errorf("cgroup %q: skip reason %q, want skip %v", tc.cgroup, reason, tc.wantSkip)
		}
	}
}
