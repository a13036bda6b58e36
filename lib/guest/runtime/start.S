/*
 * Guest entry and exception stubs. The host sets RSP, CS/DS (long mode), CR3 and the IDT before the
 * first run, and points the IDT's first 32 gates at guest_exception_stubs[vector].
 */
	.section .text.start, "ax"
	.globl _start
_start:
	xor %ebp, %ebp
	call guest_main
	mov $3, %edi                 /* UCALL_DONE */
	xor %esi, %esi
	xor %eax, %eax
	call ucall
1:	hlt
	jmp 1b

/* Vectors that push an error code: 8, 10-14, 17, 21, 29, 30. The others push a 0 in its place. */
.macro exception_stub vector
	.align 16
exception_stub_\vector:
	.if \vector == 8 || (\vector >= 10 && \vector <= 14) || \vector == 17 || \vector == 21 || \vector == 29 || \vector == 30
	.else
	pushq $0
	.endif
	pushq $\vector
	jmp exception_common
.endm

	.text
.altmacro
.set vector, 0
.rept 32
	exception_stub %vector
	.set vector, vector + 1
.endr

exception_common:
	/* Stack: vector, error code, rip, cs, rflags, rsp, ss. Report and stop: the host decides. */
	mov %rsp, %rdi
	and $-16, %rsp
	call guest_exception
1:	hlt
	jmp 1b

.macro stub_address vector
	.quad exception_stub_\vector
.endm
	.section .rodata
	.globl guest_exception_stubs
	.align 8
guest_exception_stubs:
.set vector, 0
.rept 32
	stub_address %vector
	.set vector, vector + 1
.endr
