/* The restorer's two pieces of assembly: the entry point, which leaves the
 * kernel's stack at once (that stack is unmapped later, it may sit where the
 * image needs memory), and the final jump into the restored process. */
#include "restorer.h"

/* Our stack, in .bss: part of the restorer's own range, so no image memory
 * can collide with it. */
__attribute__((used, aligned(16))) char rs_stack[256 * 1024];

/* _start: %rsp points at argc, then argv[], NULL, envp[]. Calls
 * rs_main(argc, argv, initial_sp) on rs_stack; rs_main never returns. */
__asm__(
    "  .text\n"
    "  .globl _start\n"
    "  .type _start, @function\n"
    "_start:\n"
    "  xorl %ebp, %ebp\n"
    "  movq %rsp, %rdx\n"
    "  movq (%rsp), %rdi\n"
    "  leaq 8(%rsp), %rsi\n"
    "  leaq rs_stack+262144(%rip), %rsp\n"
    "  call rs_main\n"
    "  hlt\n"
    "  .size _start, .-_start\n");

/* rs_resume(regs, info): the callee-saved registers and %rsp of the moment
 * the checkpoint handler saved them, %rax = info (the value its "setjmp"
 * returns the second time), then jump. The handler's rt_sigreturn restores
 * the program's full FPU state later; until then it runs C code, which the
 * ABI lets assume MXCSR and the x87 control word have their defaults, and the
 * direction flag clear. Offsets: struct vproc_resume_regs. */
__asm__(
    "  .text\n"
    "  .globl rs_resume\n"
    "  .type rs_resume, @function\n"
    "rs_resume:\n"
    "  cld\n"
    "  fninit\n" /* x87 control word 0x37f, empty register stack */
    "  movl $0x1f80, -8(%rsp)\n"
    "  ldmxcsr -8(%rsp)\n"
    "  movq %rsi, %rax\n"
    "  movq 16(%rdi), %rbx\n"
    "  movq 24(%rdi), %rbp\n"
    "  movq 32(%rdi), %r12\n"
    "  movq 40(%rdi), %r13\n"
    "  movq 48(%rdi), %r14\n"
    "  movq 56(%rdi), %r15\n"
    "  movq 8(%rdi), %rsp\n"
    "  movq 0(%rdi), %rcx\n"
    "  xorl %edx, %edx\n"
    "  xorl %esi, %esi\n"
    "  xorl %edi, %edi\n"
    "  xorl %r8d, %r8d\n"
    "  xorl %r9d, %r9d\n"
    "  xorl %r10d, %r10d\n"
    "  xorl %r11d, %r11d\n"
    "  jmp *%rcx\n"
    "  .size rs_resume, .-rs_resume\n");
