package cli

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// envName returns the environment variable for a flag: min-age becomes
// ZOMBIETRACE_MIN_AGE.
func envName(flagName string) string {
	return "ZOMBIETRACE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// nonFlagEnv are the ZOMBIETRACE_ variables that the tests, benchmarks
// and vmtest read, which are not flags.
var nonFlagEnv = map[string]bool{
	"ZOMBIETRACE_REQUIRE_BPF":      true,
	"ZOMBIETRACE_TIMEOUT_SCALE":    true,
	"ZOMBIETRACE_SOAK":             true,
	"ZOMBIETRACE_BIN":              true,
	"ZOMBIETRACE_PROBE_TEST_CHILD": true,
	"ZOMBIETRACE_VMTEST_KERNEL":    true,
}

// unknownEnv returns the names of the ZOMBIETRACE_ variables in environ
// that name no flag of fs, such as a misspelled ZOMBIETRACE_MIN_AEG.
func unknownEnv(fs *flag.FlagSet, environ []string) []string {
	known := make(map[string]bool)
	fs.VisitAll(func(f *flag.Flag) { known[envName(f.Name)] = true })
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "ZOMBIETRACE_") && !known[name] && !nonFlagEnv[name] {
			unknown = append(unknown, name)
		}
	}
	return unknown
}

// applyEnv sets every flag not given on the command line from its
// environment variable, if that is set, and returns the names of the
// flags it set.
func applyEnv(fs *flag.FlagSet) ([]string, error) {
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var set []string
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		value, ok := os.LookupEnv(envName(f.Name))
		if !ok || given[f.Name] || err != nil {
			return
		}
		if setErr := fs.Set(f.Name, value); setErr != nil {
			err = fmt.Errorf("invalid %s=%q: %w", envName(f.Name), value, setErr)
			return
		}
		set = append(set, f.Name)
	})
	return set, err
}

// withEnvSource appends to msg which variable set each flag that msg
// names, for a value that came from the environment.
func withEnvSource(msg string, fromEnv []string) string {
	for _, name := range fromEnv {
		i := strings.Index(msg, "--"+name)
		end := i + len(name) + 2
		if i < 0 || end < len(msg) && (msg[end] == '-' || msg[end] >= 'a' && msg[end] <= 'z') {
			continue
		}
		msg += fmt.Sprintf(" (--%s was set by %s)", name, envName(name))
	}
	return msg
}
