/* The symbolic name of the errors the probes' tests look for ("ESRCH"), or
 * strerror's text for others. */
#pragma once
#include <errno.h>
#include <string.h>

static const char* errno_name(int e) {
  switch (e) {
    case ESRCH: return "ESRCH";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case EREMOTE: return "EREMOTE";
    default: return strerror(e);
  }
}
