package probe

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -cc clang -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type header -type proc_ref -type pid_chain -type parent_state -type fork_event -type exec_event -type exit_event -type child_signal_event -type wait_event -type free_event -type event_kind zombietrace ../../bpf/zombietrace.bpf.c -- -I../../bpf
