package procfs

import (
	"bytes"
	"testing"
)

// The seed corpus is in testdata/fuzz. It contains the stat and status
// files of the fixtures and malformed variants of them.

func FuzzParseStat(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		stat, err := ParseStat(data)
		if err != nil {
			return
		}
		if !bytes.Contains(data, []byte("("+stat.Comm+")")) {
			t.Errorf("Comm %q is not a parenthesized part of the input", stat.Comm)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		status, err := ParseStatus(data)
		if err != nil {
			return
		}
		if len(status.Name) > len(data) {
			t.Errorf("Name of %d bytes is longer than the %d-byte input", len(status.Name), len(data))
		}
	})
}
