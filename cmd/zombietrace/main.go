// Command zombietrace traces processes that become zombies and stay
// unreaped, with eBPF. Run zombietrace --help for its flags.
package main

import (
	"os"

	"github.com/zombietrace/zombietrace/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
