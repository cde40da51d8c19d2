package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestMainRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--bogus"}, "flag provided but not defined: -bogus"},
		{"output", []string{"--output", "yaml"}, `invalid --output "yaml"`},
		{"min-age zero", []string{"--min-age", "0s"}, "invalid --min-age 0s"},
		{"min-age unparsable", []string{"--min-age", "soon"}, `invalid value "soon" for flag -min-age`},
		{"negative pid", []string{"--pid", "-4"}, "invalid --pid -4"},
		{"pid past the limit", []string{"--pid", "4294967297"}, "invalid --pid 4294967297"},
		{"ring buffer too large", []string{"--ring-buffer-size", "2147483648"}, "invalid --ring-buffer-size 2147483648"},
		{"kubernetes without metrics", []string{"--kubernetes"}, "--kubernetes adds pod names"},
		{"ring buffer", []string{"--ring-buffer-size", "5000"}, "invalid --ring-buffer-size 5000"},
		{"log level", []string{"--log-level", "loud"}, `invalid --log-level "loud"`},
		{"argument", []string{"extra"}, `unexpected argument "extra"`},
		{"top with json", []string{"top", "--output", "json"}, "zombietrace top prints a table, not JSON"},
		{"metrics address", []string{"--metrics-addr", "nonsense"}, `invalid --metrics-addr "nonsense"`},
		{"metrics port", []string{"--metrics-addr", "127.0.0.1:99999"}, `port "99999" is not a number`},
		{"pid_max limit", []string{"--pid", "4194304"}, "invalid --pid 4194304"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(tt.args, &stdout, &stderr)
			if code != ExitUsage {
				t.Errorf("exit code = %d, want %d", code, ExitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr.String())
			}
			if !strings.Contains(stderr.String(), "Usage: zombietrace") {
				t.Error("stderr lacks the usage text")
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want nothing", stdout.String())
			}
		})
	}
}

func TestMainHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"--help"}, &stdout, &stderr); code != ExitOK {
		t.Errorf("exit code = %d, want 0", code)
	}
	for _, want := range []string{"Examples:", "--pid 1", "ZOMBIETRACE_MIN_AGE", "-min-age"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestEnvironmentSetsFlags(t *testing.T) {
	t.Setenv("ZOMBIETRACE_OUTPUT", "xml")
	var stdout, stderr bytes.Buffer
	if code := Main(nil, &stdout, &stderr); code != ExitUsage {
		t.Errorf("exit code = %d, want %d", code, ExitUsage)
	}
	if !strings.Contains(stderr.String(), `invalid --output "xml"`) {
		t.Errorf("stderr lacks the rejected value:\n%s", stderr.String())
	}
}

func TestCommandLineWinsOverEnvironment(t *testing.T) {
	t.Setenv("ZOMBIETRACE_OUTPUT", "xml")
	var stdout, stderr bytes.Buffer
	cfg, err := parseFlags([]string{"--output", "json"}, false, &stdout, &stderr)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if cfg.Output != "json" {
		t.Errorf("output = %q, want json", cfg.Output)
	}
}

func TestInvalidEnvironmentValue(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"unparsable", "later", `invalid ZOMBIETRACE_MIN_AGE="later"`},
		{"out of range", "0s", "invalid --min-age 0s: use a positive duration such as 5s " +
			"(--min-age was set by ZOMBIETRACE_MIN_AGE)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("ZOMBIETRACE_MIN_AGE", tt.value)
			var stdout, stderr bytes.Buffer
			if code := Main(nil, &stdout, &stderr); code != ExitUsage {
				t.Errorf("exit code = %d, want %d", code, ExitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}

func TestUnknownEnvironmentVariable(t *testing.T) {
	t.Setenv("ZOMBIETRACE_MIN_AEG", "1s")
	t.Setenv("ZOMBIETRACE_REQUIRE_BPF", "1")
	t.Setenv("ZOMBIETRACE_MIN_AGE", "2s")
	var stdout, stderr bytes.Buffer
	cfg, err := parseFlags(nil, false, &stdout, &stderr)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if len(cfg.UnknownEnv) != 1 || cfg.UnknownEnv[0] != "ZOMBIETRACE_MIN_AEG" {
		t.Errorf("unknown variables = %q, want only ZOMBIETRACE_MIN_AEG", cfg.UnknownEnv)
	}
}

func TestEnvSourceNamesWholeFlags(t *testing.T) {
	got := withEnvSource("invalid --pid-file x", []string{"pid"})
	if got != "invalid --pid-file x" {
		t.Errorf("withEnvSource matched --pid inside --pid-file: %q", got)
	}
	got = withEnvSource("it needs --metrics-addr", []string{"metrics-addr"})
	if !strings.HasSuffix(got, "(--metrics-addr was set by ZOMBIETRACE_METRICS_ADDR)") {
		t.Errorf("withEnvSource missed a flag at the end: %q", got)
	}
}
