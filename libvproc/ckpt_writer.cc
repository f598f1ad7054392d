// The snapshot process: a copy-on-write fork of the checkpointed process,
// created inside its checkpoint handler (ckpt_handler.cc). It reads what must
// be read while the original is frozen (the fd table: offsets are shared),
// releases it, then writes the image at its leisure from its own copy of the
// memory and reports the outcome. It runs no code of the program and takes no
// lock the program may hold (raw system calls, mmap'd scratch memory).
//
// The image is written to PATH.tmp-PID and renamed into place when complete,
// so PATH is always either the previous image or a whole new one.
#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <cstring>

#include "ckpt_daemon_call.h"
#include "ckpt_facts.h"
#include "ckpt_children_policy.h"
#include "ckpt_internal.h"
#include "ckpt_migrate.h"
#include "diag.h"
#include "image_header.h"
#include "raw_syscall.h"
#include "state.h"

namespace vproc::lib {

void Refusals::add(const char* a, const char* b, const char* c, const char* d) {
  for (const char* p : {a, b, c, d, "\n"})
    for (; *p && len + 1 < sizeof text; ++p) text[len++] = *p;
  text[len] = 0;
  ++count;
}

bool out_write(ImageOut& out, const void* p, size_t len, int* err) {
  const char* c = static_cast<const char*>(p);
  while (len) {
    long n = raw::sys(SYS_write, out.fd, c, len > (1u << 30) ? (1u << 30) : len);
    if (n == -EINTR) continue;
    if (n <= 0) {
      *err = n < 0 ? int(-n) : EIO;
      return false;
    }
    c += n;
    len -= size_t(n);
    out.pos += uint64_t(n);
  }
  return true;
}

bool out_align(ImageOut& out, int* err) {
  static const char zeros[image::kImagePage] = {};
  size_t pad = size_t((image::kImagePage - out.pos % image::kImagePage) % image::kImagePage);
  return out_write(out, zeros, pad, err);
}

namespace {

uint64_t now_ns() {
  struct timespec ts {};
  raw::sys(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}

struct Outcome {
  int err = 0;
  char message[400] = {};
  char path[1024] = {};
  uint64_t image_bytes = 0, data_bytes = 0, frozen_ns = 0, write_ns = 0;
  void fail(int e, const char* a, const char* b = "") {
    err = e;
    size_t n = 0;
    for (const char* p : {a, b})
      for (; *p && n + 1 < sizeof message; ++p) message[n++] = *p;
    message[n] = 0;
  }
};

void append_num(char* buf, size_t cap, uint64_t v) {
  char d[24];
  size_t n = strlen(buf);
  copy_cstr(buf + n, cap - n, format_u64(v, d));
}

// Writes the whole image to out.fd; fills `o` on failure.
void write_image(Scratch& s, ImageOut& out, const MapList& maps, const CkptState& c, Outcome& o) {
  ProcessFacts f;
  int r = collect_facts(s, f);
  if (r < 0) return o.fail(-r, "cannot read the process's state from /proc: ", errno_text(-r));
  f.frozen_ns = o.frozen_ns;
  out.pos = image::kDataOffset;
  if (raw::sys(SYS_lseek, out.fd, image::kDataOffset, SEEK_SET) < 0)
    return o.fail(EIO, "cannot seek in the image file");
  const ProcessState& st = state();
  // Ours, not the program's: the shared table, this writer's scratch memory
  // and its stack (vproc_ckpt_run_snapshot), found by the address of a local.
  uint64_t table = reinterpret_cast<uint64_t>(st.table.base());
  uint64_t here = reinterpret_cast<uint64_t>(&table);
  uint64_t skip[3][2] = {{table, table ? table + kTableBytes : 0}, {s.start(), s.end()}, {here, here + 1}};
  for (int i = 0; i < maps.count; ++i)
    if (maps.entries[i].start <= here && here < maps.entries[i].end)
      skip[2][0] = maps.entries[i].start, skip[2][1] = maps.entries[i].end;
  r = capture_memory(s, maps, out, skip, 3);
  if (r < 0) return o.fail(-r, "writing the memory failed: ", errno_text(-r));
  if (out.refusals.count) return o.fail(EOPNOTSUPP, "cannot be saved yet:\n", out.refusals.text);
  out.blobs = s.take_array<BlobRec>(size_t(out.fd_count) + 1);
  r = out.blobs ? store_deleted_contents(out) : -ENOMEM;
  if (r < 0) return o.fail(-r, "saving a deleted file's contents failed: ", errno_text(-r));
  r = store_pipe_contents(out);
  if (r < 0) return o.fail(-r, "saving a pipe's contents failed: ", errno_text(-r));
  int err = 0;
  if (!out_align(out, &err)) return o.fail(err, "writing the image failed: ", errno_text(err));
  image::ImageHeader h{};
  h.meta_offset = out.pos;
  size_t meta_len = 0;
  r = write_metadata(s, out, f, c, &meta_len, &h.meta_hash);
  if (r < 0) return o.fail(-r, "writing the image's metadata failed: ", errno_text(-r));
  memcpy(h.magic, image::kImageMagic, sizeof h.magic);
  h.version = image::kImageVersion;
  h.header_size = sizeof h;
  h.arch = image::kArchX86_64;
  h.page_size = image::kImagePage;
  h.flags = out.embed_files ? uint32_t(image::kFlagEmbeddedFiles) : 0u;
  h.meta_size = meta_len;
  h.data_bytes = out.data_bytes;
  h.file_size = out.pos;
  h.vpid = f.vpid;
  h.header_hash = hash_bytes(&h, offsetof(image::ImageHeader, header_hash));
  if (raw::sys(SYS_pwrite64, out.fd, &h, sizeof h, 0) != long(sizeof h))
    return o.fail(EIO, "writing the image header failed");
  o.image_bytes = out.pos;
  o.data_bytes = out.data_bytes;
}

void report(const CkptState& c, const Outcome& o) {
  CkptPipeResult pr{};
  pr.error = o.err;
  copy_cstr(pr.message, sizeof pr.message, o.message);
  raw::sys(SYS_write, c.sync_w, &pr, sizeof pr);  // EPIPE when nobody waits: fine
  if (c.request_id == 0) return;
  wire::CheckpointResult res;
  res.request_id = c.request_id;
  res.vpid = state().self.value;
  res.err = o.err;
  res.message.set(o.message);
  res.path.set(o.path);
  res.image_bytes = o.image_bytes;
  res.data_bytes = o.data_bytes;
  res.frozen_ns = o.frozen_ns;
  res.write_ns = o.write_ns;
  wire::Reply reply;
  ckpt_daemon_call(res, reply);
}

// The daemon's request of a migration (the handler waits for its verdict).
bool migrating(const CkptState& c) { return c.request_id != 0 && (c.request_flags & kCkptMigrate); }

// What to write and where: from the daemon for its requests, else local.
bool job_spec(const CkptState& c, Outcome& o, uint32_t& flags) {
  flags = c.request_flags;
  if (c.request_id == 0) {
    copy_cstr(o.path, sizeof o.path, c.local_path);
    return true;
  }
  wire::Reply reply;
  int r = ckpt_daemon_call(wire::CheckpointJob{state().self.value, c.request_id}, reply);
  if (r < 0) {
    o.fail(-r, "cannot reach the daemon for the checkpoint request: ", errno_text(-r));
    return false;
  }
  if (auto* spec = std::get_if<wire::CheckpointSpec>(&reply)) {
    copy_cstr(o.path, sizeof o.path, spec->path.s);
    flags = spec->flags;
    return true;
  }
  auto* e = std::get_if<wire::Error>(&reply);
  o.fail(e ? e->err : EPROTO, "the daemon has no such checkpoint request: ", e ? e->message.s : "bad reply");
  return false;
}

}  // namespace

[[noreturn]] void snapshot_main() {
  uint64_t all = ~0ull;
  raw::sys(SYS_rt_sigprocmask, SIG_SETMASK, &all, nullptr, 8);
  CkptState& c = state().ckpt;
  raw::sys(SYS_close, c.sync_r);
  Outcome o;
  Scratch s;
  ImageOut out;
  out.image_dev = c.image_dev;
  out.image_ino = c.image_ino;
  int ignore[] = {c.sync_r, c.sync_w, state().conn_fd.load(std::memory_order_relaxed), c.image_fd};
  int r = s.init(size_t(1) << 40) ? capture_fds(s, out, ignore, 4) : -ENOMEM;
  MapList maps;
  bool have_maps = r == 0 && read_maps(s, maps);
  // Everything that changes when the original runs again has been read.
  o.frozen_ns = now_ns() - c.freeze_start_ns;
  char released = 1;
  raw::sys(SYS_write, c.sync_w, &released, 1);

  uint32_t flags = 0;
  uint64_t t0 = now_ns();
  if (r < 0) {
    o.fail(-r, "cannot read the file descriptor table: ", errno_text(-r));
  } else if (!have_maps) {
    o.fail(EIO, "cannot read /proc/self/maps");
  } else if (job_spec(c, o, flags)) {
    out.embed_files = flags & kCkptEmbedFiles;
    if (c.quiesce_refusal[0]) {
      out.refusals.add(c.quiesce_refusal);
    } else if (c.task_count > c.thread_count) {
      // Only the parked threads are in the image (ckpt_quiesce.h).
      char n[24] = {};
      append_num(n, sizeof n, uint64_t(c.task_count));
      out.refusals.add("the process has ", n, " threads, and not all of them could be stopped");
    }
    if (c.child_count > 0) {
      char kids[400];  // ckpt_children_policy.h: a migration may leave them behind
      if (const char* why = ckpt_children_refusal(c, kids, sizeof kids)) out.refusals.add(why);
    }
    char why[PATH_MAX + 128];
    if (migrating(c))
      if (const char* r = migrate_refusal(c, why, sizeof why)) out.refusals.add(r);
    if (out.refusals.count) {
      o.fail(EOPNOTSUPP, "cannot be saved yet:\n", out.refusals.text);
    } else {
      char tmp[1100];
      copy_cstr(tmp, sizeof tmp, o.path);
      size_t n = strlen(tmp);
      copy_cstr(tmp + n, sizeof tmp - n, ".tmp-");
      append_num(tmp, sizeof tmp, uint64_t(raw::sys(SYS_getpid)));
      long fd = raw::sys(SYS_openat, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) {
        o.fail(int(-fd), "cannot create the image: ", errno_text(int(-fd)));
      } else {
        out.fd = int(fd);
        write_image(s, out, maps, c, o);
        raw::sys(SYS_close, fd);
        if (o.err == 0) {
          long rr = raw::sys(SYS_rename, tmp, o.path);
          if (rr < 0) o.fail(int(-rr), "cannot move the image into place: ", errno_text(int(-rr)));
        }
        if (o.err) raw::sys(SYS_unlink, tmp);
      }
    }
  }
  o.write_ns = now_ns() - t0;
  report(c, o);
  // A migration's image is complete: the process waits for the verdict.
  if (o.err == 0 && migrating(c)) migrate_pass_verdict(c);
  raw::sys(SYS_exit_group, o.err ? 1 : 0);
  __builtin_unreachable();
}

extern "C" __attribute__((visibility("hidden"), noreturn)) void vproc_ckpt_snapshot_entry() { snapshot_main(); }

extern "C" void vproc_ckpt_run_snapshot(void* stack_top) __attribute__((noreturn));

// The vfork-like helper (ckpt_context.S): forks the snapshot, waits until it
// has read the fd table, and exits, which lets the frozen thread go on.
extern "C" __attribute__((visibility("hidden"), noreturn)) void vproc_ckpt_helper_main() {
  CkptState& c = state().ckpt;
  long pid = raw::sys(SYS_clone, SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) {
    constexpr size_t kStack = 1 << 20;
    long stack = raw::sys(SYS_mmap, 0, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw::failed(stack)) raw::sys(SYS_exit_group, 1);  // the handler reads EOF: "writer died"
    vproc_ckpt_run_snapshot(reinterpret_cast<char*>(stack) + kStack);
  }
  if (pid < 0) {
    c.helper_error = int(-pid);
  } else {
    char b;
    long n;
    do n = raw::sys(SYS_read, c.sync_r, &b, 1);
    while (n == -EINTR);
    if (n != 1) c.helper_error = EIO;  // died before releasing us
  }
  raw::sys(SYS_exit, 0);
  __builtin_unreachable();
}

}  // namespace vproc::lib
