// Command zombietrace traces processes that become zombies and stay
// unreaped, with eBPF. Run zombietrace --help for its flags.
package main

import (
	"os"
	"runtime/debug"

	"github.com/zombietrace/zombietrace/internal/cli"
)

// defaultMemoryLimit is the Go runtime's soft memory limit when GOMEMLIMIT
// is not set. It makes the garbage collector run before a burst of records
// (10,000 zombies at once) doubles the heap, which kept the resident size
// of bench/footprint.sh under 40 MiB; the live heap may still grow past it.
const defaultMemoryLimit = 20 << 20

func main() {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
