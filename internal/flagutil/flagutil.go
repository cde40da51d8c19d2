// Package flagutil holds what zombietrace's commands share in parsing
// their flags.
package flagutil

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// ErrHelp is returned by Parse after it printed the help.
var ErrHelp = errors.New("help requested")

// Parse sets the usage text of fs to header followed by its flags, and
// parses args. When args ask for help (-h, -help or --help, anywhere), it
// prints the usage on stdout instead and returns ErrHelp. Otherwise parse
// errors and usage go to the output fs already has.
func Parse(fs *flag.FlagSet, header string, args []string, stdout io.Writer) error {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), header)
		fs.PrintDefaults()
	}
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return ErrHelp
		}
	}
	return fs.Parse(args)
}
