/* Saving and re-entering the checkpoint handler (x86-64 System V).
 *
 * vproc_ckpt_save(ResumeRegs* r): like setjmp, but with no signal mask and no
 * pointer mangling (the restorer reads these values from the image). Returns 0
 * when called; "returns" again with the restore info pointer when the restorer
 * jumps to r->rip with r->rsp and the callee-saved registers reloaded.
 *
 * vproc_ckpt_clone_vfork(stack_top): clone(CLONE_VM|CLONE_VFORK) with no exit
 * signal; the child runs vproc_ckpt_helper_main() on stack_top and never
 * returns. The caller sleeps until the child exits (vfork semantics), which is
 * what freezes the calling thread while the snapshot is taken.
 */
        .text
        .globl  vproc_ckpt_save
        .hidden vproc_ckpt_save
        .type   vproc_ckpt_save, @function
vproc_ckpt_save:
        .cfi_startproc
        movq    %rbx, 0(%rdi)
        movq    %rbp, 8(%rdi)
        movq    %r12, 16(%rdi)
        movq    %r13, 24(%rdi)
        movq    %r14, 32(%rdi)
        movq    %r15, 40(%rdi)
        leaq    8(%rsp), %rax          /* %rsp after our return */
        movq    %rax, 48(%rdi)
        movq    (%rsp), %rax           /* our return address */
        movq    %rax, 56(%rdi)
        xorl    %eax, %eax
        ret
        .cfi_endproc
        .size   vproc_ckpt_save, .-vproc_ckpt_save

        .globl  vproc_ckpt_clone_vfork
        .hidden vproc_ckpt_clone_vfork
        .type   vproc_ckpt_clone_vfork, @function
vproc_ckpt_clone_vfork:
        .cfi_startproc
        movq    %rdi, %rsi             /* new stack */
        movl    $0x4100, %edi          /* CLONE_VM | CLONE_VFORK, exit signal 0 */
        xorl    %edx, %edx
        xorl    %r10d, %r10d
        xorl    %r8d, %r8d
        movl    $56, %eax              /* __NR_clone */
        syscall
        testq   %rax, %rax
        jnz     1f
        /* child, on the new stack */
        .cfi_undefined rip
        xorl    %ebp, %ebp
        andq    $-16, %rsp
        call    vproc_ckpt_helper_main
        hlt
1:      ret
        .cfi_endproc
        .size   vproc_ckpt_clone_vfork, .-vproc_ckpt_clone_vfork

        .section .note.GNU-stack,"",@progbits

/* vproc_ckpt_clone_thread(stack_top, ctid): a bare thread of this process
 * (no TLS of its own: it must not touch %fs-relative data) running
 * vproc_ckpt_populate_main(); the kernel stores its tid at *ctid and clears
 * it with a futex wake when it exits. Returns its tid or -errno. */
        .text
        .globl  vproc_ckpt_clone_thread
        .hidden vproc_ckpt_clone_thread
        .type   vproc_ckpt_clone_thread, @function
vproc_ckpt_clone_thread:
        .cfi_startproc
        movq    %rsi, %rdx             /* parent_tid */
        movq    %rsi, %r10             /* child_tid */
        movq    %rdi, %rsi             /* new stack */
        /* CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|PARENT_SETTID|CHILD_CLEARTID */
        movl    $0x00350f00, %edi
        xorl    %r8d, %r8d
        movl    $56, %eax
        syscall
        testq   %rax, %rax
        jnz     1f
        .cfi_undefined rip
        xorl    %ebp, %ebp
        andq    $-16, %rsp
        call    vproc_ckpt_populate_main
        hlt
1:      ret
        .cfi_endproc
        .size   vproc_ckpt_clone_thread, .-vproc_ckpt_clone_thread
        .section .note.GNU-stack,"",@progbits

/* vproc_ckpt_run_snapshot(stack_top): the snapshot process leaves the helper's
 * stack (which lies inside the memory it is about to save: a stack that
 * changes while its pages are hashed and written would make the image
 * inconsistent) for a stack of its own, and runs snapshot_entry() there. */
        .text
        .globl  vproc_ckpt_run_snapshot
        .hidden vproc_ckpt_run_snapshot
        .type   vproc_ckpt_run_snapshot, @function
vproc_ckpt_run_snapshot:
        .cfi_startproc
        movq    %rdi, %rsp
        andq    $-16, %rsp
        xorl    %ebp, %ebp
        .cfi_undefined rip
        call    vproc_ckpt_snapshot_entry
        hlt
        .cfi_endproc
        .size   vproc_ckpt_run_snapshot, .-vproc_ckpt_run_snapshot
        .section .note.GNU-stack,"",@progbits

/* vproc_ckpt_clone_resume(flags, regs, tls, tid_address, value): a new thread
 * of this process (clone with `flags`, TLS `tls`, parent/child tid at
 * `tid_address`) that continues where vproc_ckpt_save(regs) was called, as if
 * it returned `value` there: it takes the saved callee-saved registers and
 * stack pointer and jumps to the saved return address. Nothing runs on the
 * new task before that, so it needs no stack of its own. Returns the new
 * thread's tid or -errno in the caller. */
        .text
        .globl  vproc_ckpt_clone_resume
        .hidden vproc_ckpt_clone_resume
        .type   vproc_ckpt_clone_resume, @function
vproc_ckpt_clone_resume:
        .cfi_startproc
        pushq   %r12
        .cfi_adjust_cfa_offset 8
        pushq   %r13
        .cfi_adjust_cfa_offset 8
        movq    %rsi, %r12             /* regs: callee-saved, the child has it too */
        movq    %r8, %r13              /* value */
        movq    %rdx, %r8              /* tls */
        movq    %rcx, %rdx             /* parent_tid */
        movq    %rcx, %r10             /* child_tid */
        movq    48(%r12), %rsi         /* stack: the saved one */
        movl    $56, %eax              /* __NR_clone */
        syscall
        testq   %rax, %rax
        jnz     1f
        /* child: become the saved thread */
        .cfi_undefined rip
        movq    %r13, %rax
        movq    0(%r12), %rbx
        movq    8(%r12), %rbp
        movq    24(%r12), %r13
        movq    32(%r12), %r14
        movq    40(%r12), %r15
        movq    48(%r12), %rsp
        movq    56(%r12), %rcx
        movq    16(%r12), %r12
        jmp     *%rcx
1:      popq    %r13
        .cfi_adjust_cfa_offset -8
        popq    %r12
        .cfi_adjust_cfa_offset -8
        ret
        .cfi_endproc
        .size   vproc_ckpt_clone_resume, .-vproc_ckpt_clone_resume
        .section .note.GNU-stack,"",@progbits
