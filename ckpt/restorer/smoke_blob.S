/* The "restored program" of restorer_smoke_test: position-independent code
 * the test copies into its fake image. The restorer jumps here with
 * %rax = &restore_info and %r12 = the data page, whose qwords say what every
 * check expects (restorer_smoke_test.c, enum Slot). Each failed check exits
 * with its own status (10..); on success it prints /proc/self/maps, a "---"
 * line, /proc/self/cmdline and "RESTORED-OK", then exits 0. Only registers
 * and its own stack: nothing outside the pages the plan mapped. */
        .section .rodata.smoke_blob, "a"
        .globl  smoke_blob_start, smoke_blob_end
smoke_blob_start:
        movl    $10, %r8d
        cmpq    8(%r12), %rbx
        jne     fail
        movl    $11, %r8d
        cmpq    16(%r12), %rbp
        jne     fail
        movl    $12, %r8d
        cmpq    24(%r12), %r13
        jne     fail
        cmpq    32(%r12), %r14
        jne     fail
        cmpq    40(%r12), %r15
        jne     fail
        movl    $13, %r8d
        cmpq    48(%r12), %rsp
        jne     fail
        movl    $14, %r8d
        cmpq    56(%r12), %rax
        jne     fail
        movq    120(%r12), %rcx
        cmpq    (%rax), %rcx
        jne     fail
        movl    $15, %r8d               /* data page content (READ_IMAGE) */
        movabsq $0x1122334455667788, %rcx
        cmpq    (%r12), %rcx
        jne     fail
        movl    $16, %r8d               /* lazy page content (MAP_IMAGE) */
        movq    104(%r12), %rcx
        movq    (%rcx), %rcx
        cmpq    112(%r12), %rcx
        jne     fail
        subq    $64, %rsp
        movl    $17, %r8d               /* FS base */
        movl    $158, %eax              /* arch_prctl(ARCH_GET_FS, rsp) */
        movl    $0x1003, %edi
        movq    %rsp, %rsi
        syscall
        movq    (%rsp), %rcx
        cmpq    64(%r12), %rcx
        jne     fail
        movl    $18, %r8d               /* brk(0) == saved brk */
        movl    $12, %eax
        xorl    %edi, %edi
        syscall
        cmpq    72(%r12), %rax
        jne     fail
        movl    $19, %r8d               /* the plan fd and the CLOSE op's fd are closed, */
        movl    $72, %eax
        movq    80(%r12), %rdi
        movl    $1, %esi
        syscall
        cmpq    $-9, %rax
        jne     fail
        movl    $72, %eax
        movq    88(%r12), %rdi
        movl    $1, %esi
        syscall
        cmpq    $-9, %rax
        jne     fail
        movl    $72, %eax               /* the SET_CLOEXEC op's fd is close-on-exec */
        movq    128(%r12), %rdi
        movl    $1, %esi
        syscall
        cmpq    $1, %rax
        jne     fail
        movl    $20, %r8d               /* rt_sigaction(SIGUSR1) as in the plan */
        movl    $13, %eax
        movl    $10, %edi
        xorl    %esi, %esi
        movq    %rsp, %rdx
        movl    $8, %r10d
        syscall
        testq   %rax, %rax
        jne     fail
        movq    (%rsp), %rcx
        cmpq    96(%r12), %rcx
        jne     fail
        movl    $21, %r8d
        leaq    256(%r12), %rdi         /* "/proc/self/maps" */
        call    cat
        movl    $1, %eax
        movl    $1, %edi
        leaq    320(%r12), %rsi         /* "---\n" */
        movl    $4, %edx
        syscall
        leaq    288(%r12), %rdi         /* "/proc/self/cmdline" */
        call    cat
        movl    $1, %eax
        movl    $1, %edi
        leaq    336(%r12), %rsi         /* "\nRESTORED-OK\n" */
        movl    $13, %edx
        syscall
        xorl    %r8d, %r8d
fail:
        movl    %r8d, %edi
        movl    $231, %eax              /* exit_group */
        syscall
        hlt

/* cat(path in %rdi) to fd 1, with a 4 KiB buffer below %rsp; keeps %r12. */
cat:
        pushq   %rbx
        subq    $4096, %rsp
        movl    $257, %eax              /* openat(AT_FDCWD, path, O_RDONLY) */
        movq    %rdi, %rsi
        movq    $-100, %rdi
        xorl    %edx, %edx
        syscall
        testq   %rax, %rax
        js      fail
        movq    %rax, %rbx
1:      xorl    %eax, %eax              /* read */
        movq    %rbx, %rdi
        movq    %rsp, %rsi
        movl    $4096, %edx
        syscall
        testq   %rax, %rax
        jle     2f
        movq    %rax, %rdx
        movl    $1, %eax                /* write(1, buf, n) */
        movl    $1, %edi
        movq    %rsp, %rsi
        syscall
        jmp     1b
2:      movl    $3, %eax                /* close */
        movq    %rbx, %rdi
        syscall
        addq    $4096, %rsp
        popq    %rbx
        ret
smoke_blob_end:

        .section .note.GNU-stack,"",@progbits
