/* Messages from vproc-restorer: built in a fixed buffer, written to fd 2 with
 * one write(2). Failing is always fatal here (the address space is half
 * rebuilt), so rs_die() ends the process with status 1. */
#ifndef VPROC_RESTORER_OUT_H
#define VPROC_RESTORER_OUT_H

#include <stdint.h>

struct rs_msg {
  char buf[512];
  unsigned len;
};

/* Starts a message with "vproc-restorer: ". */
void rs_msg_begin(struct rs_msg* m);
void rs_msg_str(struct rs_msg* m, const char* s);
void rs_msg_hex(struct rs_msg* m, uint64_t v); /* 0x... */
void rs_msg_dec(struct rs_msg* m, int64_t v);
/* ": <what the error means>" for a -errno result. */
void rs_msg_errno(struct rs_msg* m, long neg_errno);
/* Writes the message and a newline to fd 2; exit_group(1). */
__attribute__((noreturn)) void rs_msg_die(struct rs_msg* m);
/* The common case: "vproc-restorer: WHAT" and exit 1. */
__attribute__((noreturn)) void rs_die(const char* what);

#endif
