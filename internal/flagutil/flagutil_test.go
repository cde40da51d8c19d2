package flagutil

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestParseHelpGoesToStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(&stderr)
	fs.Int("n", 1, "a number")
	err := Parse(fs, "Usage: x\n", []string{"-n", "2", "--help"}, &stdout)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v, want ErrHelp", err)
	}
	if !strings.HasPrefix(stdout.String(), "Usage: x\n") || !strings.Contains(stdout.String(), "a number") {
		t.Errorf("stdout = %q, want the header and the flags", stdout.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr = %q, want nothing", stderr.String())
	}
}

func TestParseErrorShowsUsage(t *testing.T) {
	var stdout, stderr bytes.Buffer
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(&stderr)
	if err := Parse(fs, "Usage: x\n", []string{"--bogus"}, &stdout); err == nil {
		t.Fatal("Parse accepted an unknown flag")
	}
	if !strings.Contains(stderr.String(), "Usage: x") {
		t.Errorf("stderr = %q, want the usage", stderr.String())
	}
}
