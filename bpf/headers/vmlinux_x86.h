/* SPDX-License-Identifier: GPL-2.0 */
/*
 * x86_64 registers as the kernel saves them at syscall entry, trimmed to
 * the argument registers. Included by vmlinux.h inside its
 * preserve_access_index block.
 */
struct pt_regs {
	unsigned long r10;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
};

/* Argument N of the current syscall. The return value overwrites none of them. */
#define SYSCALL_ARG0(regs) ((regs)->di)
#define SYSCALL_ARG1(regs) ((regs)->si)
#define SYSCALL_ARG2(regs) ((regs)->dx)
#define SYSCALL_ARG3(regs) ((regs)->r10)
