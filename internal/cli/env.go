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

// applyEnv sets every flag not given on the command line from its
// environment variable, if that is set.
func applyEnv(fs *flag.FlagSet) error {
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		value, ok := os.LookupEnv(envName(f.Name))
		if !ok || given[f.Name] || err != nil {
			return
		}
		if setErr := fs.Set(f.Name, value); setErr != nil {
			err = fmt.Errorf("invalid %s=%q: %w", envName(f.Name), value, setErr)
		}
	})
	return err
}
