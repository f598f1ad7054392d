#include "image_model.h"

namespace vproc::image {

const char* to_string(VmaKind k) {
  switch (k) {
    case VmaKind::Anonymous: return "anonymous";
    case VmaKind::File: return "file";
    case VmaKind::Stack: return "stack";
    case VmaKind::Heap: return "heap";
    case VmaKind::Reserved: return "reserved";
    case VmaKind::SharedFile: return "shared-file";
  }
  return "?";
}

const char* to_string(FdKind k) {
  switch (k) {
    case FdKind::Regular: return "regular";
    case FdKind::Deleted: return "deleted";
    case FdKind::Directory: return "directory";
    case FdKind::DevNull: return "dev-null";
    case FdKind::DevZero: return "dev-zero";
    case FdKind::DevUrandom: return "dev-urandom";
    case FdKind::DevRandom: return "dev-random";
    case FdKind::Tty: return "tty";
    case FdKind::Stdio: return "stdio";
    case FdKind::Pipe: return "pipe";
    case FdKind::Epoll: return "epoll";
    case FdKind::Eventfd: return "eventfd";
  }
  return "?";
}

}  // namespace vproc::image
