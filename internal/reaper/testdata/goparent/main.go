// Command goparent is a multi-threaded Go test parent for package reaper. It
// starts a child that exits with status 7, waits until the child is a zombie
// without reaping it, prints "ready <pid>", and then sums stdin while
// goroutines compute. At the end it prints "final ECHILD" when a waitid for
// the child fails with ECHILD.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

const (
	workGoroutines = 4
	workRounds     = 100_000_000
	pPID           = 1
	wExited        = 4
	wNoWait        = 0x1000000
	wNoHang        = 1
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	proc, err := os.StartProcess("/bin/sh", []string{"sh", "-c", "exit 7"}, &os.ProcAttr{})
	if err != nil {
		return err
	}
	if err := waitid(proc.Pid, wExited|wNoWait); err != nil {
		return fmt.Errorf("wait for child to exit: %w", err)
	}
	fmt.Printf("ready %d\n", proc.Pid)

	results := make([]uint64, workGoroutines)
	var wg sync.WaitGroup
	for i := range workGoroutines {
		wg.Go(func() { results[i] = xorshift(uint64(i)+1, workRounds) })
	}

	sum := fnv.New64a()
	n, err := io.Copy(sum, bufio.NewReader(os.Stdin))
	if err != nil {
		return err
	}
	wg.Wait()
	var work uint64
	for _, r := range results {
		work ^= r
	}
	fmt.Printf("sum %016x bytes %d\n", sum.Sum64(), n)
	fmt.Printf("work %016x\n", work)

	err = waitid(proc.Pid, wExited|wNoHang)
	switch {
	case errors.Is(err, syscall.ECHILD):
		fmt.Println("final ECHILD")
	case err != nil:
		return err
	default:
		fmt.Println("final reaped")
	}
	return nil
}

func waitid(pid, options int) error {
	var info [128]byte
	_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
		uintptr(unsafe.Pointer(&info[0])), uintptr(options), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func xorshift(x uint64, rounds int) uint64 {
	for range rounds {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}
