/* SPDX-License-Identifier: GPL-2.0 */
/*
 * arm64 registers as the kernel saves them at syscall entry, trimmed to
 * the argument registers. The kernel nests regs in anonymous members,
 * which CO-RE matching looks through. Included by vmlinux.h inside its
 * preserve_access_index block.
 */
struct pt_regs {
	unsigned long long regs[31];
	unsigned long long orig_x0;
};

/* The return value overwrites x0, so argument 0 comes from orig_x0. */
#define SYSCALL_ARG0(regs) ((regs)->orig_x0)
#define SYSCALL_ARG1(regs) ((regs)->regs[1])
#define SYSCALL_ARG2(regs) ((regs)->regs[2])
#define SYSCALL_ARG3(regs) ((regs)->regs[3])
