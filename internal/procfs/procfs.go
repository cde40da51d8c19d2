// Package procfs reads process information from the proc file system.
//
// Every function takes the mount point of procfs as its root argument,
// normally "/proc", so tests can point it at a directory of fixture files.
// The package uses only the standard library.
package procfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// ErrNoProcess is returned, wrapped, when the process does not exist or exited
// and was reaped while it was being read. errors.Is(ErrNoProcess,
// fs.ErrNotExist) is true, so callers may test for either.
var ErrNoProcess error = noProcessError{}

type noProcessError struct{}

func (noProcessError) Error() string { return "process not found" }

func (noProcessError) Is(target error) bool { return target == fs.ErrNotExist }

// pidPath returns the path of a file under the /proc/PID directory.
func pidPath(root string, pid int, name string) string {
	return filepath.Join(root, strconv.Itoa(pid), name)
}

// readPIDFile reads one file of /proc/PID and maps the errors of a vanished
// process to ErrNoProcess.
func readPIDFile(root string, pid int, name string) ([]byte, error) {
	data, err := os.ReadFile(pidPath(root, pid, name))
	if err != nil {
		return nil, wrapPIDError(pid, err)
	}
	return data, nil
}

// wrapPIDError adds ErrNoProcess to err when err means that the process is
// gone. Opening a file of a reaped process fails with ENOENT, but reading a
// file that was opened before the process was reaped fails with ESRCH.
func wrapPIDError(pid int, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("pid %d: %w: %w", pid, ErrNoProcess, err)
	}
	return fmt.Errorf("pid %d: %w", pid, err)
}
