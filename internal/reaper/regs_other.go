//go:build linux && !amd64 && !arm64

package reaper

// archSupported is false: ReapWithOptions returns ErrUnsupportedArch before
// any of the stubs below run.
const archSupported = false

type regs struct{}

var syscallInstruction = []byte{0}

const instructionAlign = 1

var syscallNames = map[int64]string{}

func getRegs(int) (regs, error)                          { return regs{}, ErrUnsupportedArch }
func setRegs(int, regs) error                            { return ErrUnsupportedArch }
func stackPointer(regs) uint64                           { return 0 }
func returnValue(regs) int64                             { return 0 }
func syscallCandidates(regs) []uint64                    { return nil }
func injectRegs(r regs, _ uint64, _ syscallRequest) regs { return r }
func restoreRegs(r regs, _ bool) regs                    { return r }
func interruptedCall(regs, uint64) (int64, int64, bool)  { return 0, 0, false }
func enteredSyscall(int) (int64, error)                  { return 0, ErrUnsupportedArch }
func setEnteredSyscall(int, int64) error                 { return ErrUnsupportedArch }
func getSyscallNumber(int) (int64, error)                { return 0, ErrUnsupportedArch }
func setSyscallNumber(int, int64) error                  { return ErrUnsupportedArch }
