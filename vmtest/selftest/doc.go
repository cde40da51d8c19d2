// Package selftest checks the vmtest harness: its test reads the kernel's BTF
// and loads, attaches and triggers one trivial BPF program per program type
// that zombietrace may use. Its output includes a FEATURE table, so a vmtest
// run shows what each kernel supports.
package selftest
