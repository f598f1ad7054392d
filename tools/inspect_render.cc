#include "inspect_render.h"

#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>

#include "json_text.h"
#include "signal_names.h"

namespace vproc::tools {
namespace {

using namespace vproc::image;

std::string format(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string format(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return buf;
}

std::string hex(uint64_t v) { return format("0x%" PRIx64, v); }

std::string local_time(uint64_t ns) {
  time_t t = time_t(ns / 1000000000);
  struct tm tm;
  char buf[64];
  if (!localtime_r(&t, &tm) || !strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &tm)) return std::to_string(ns);
  return buf;
}

std::string build_id(const MappedFile& f) {
  std::string out;
  for (uint8_t b : f.build_id) out += format("%02x", b);
  return out;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const std::string& a : argv) out += (out.empty() ? "" : " ") + a;
  return out;
}

// "0x10002 (INT CHLD)": the blocked signals by name (bit N-1 is signal N).
std::string signal_mask(uint64_t mask) {
  std::string names;
  for (int sig = 1; sig <= 64; ++sig) {
    if (!(mask >> (sig - 1) & 1)) continue;
    std::string n = signal_name(sig);
    names += (names.empty() ? "" : " ") + (n.empty() ? std::to_string(sig) : n);
  }
  return names.empty() ? hex(mask) : hex(mask) + " (" + names + ")";
}

// "0x80000019 (IN ERR HUP ET)": an epoll registration's events.
std::string epoll_events(uint32_t events) {
  static const struct {
    uint32_t bit;
    const char* name;
  } kNames[] = {{0x1, "IN"},         {0x2, "PRI"},         {0x4, "OUT"},       {0x8, "ERR"},
                {0x10, "HUP"},       {0x40, "RDNORM"},     {0x80, "RDBAND"},   {0x100, "WRNORM"},
                {0x200, "WRBAND"},   {0x400, "MSG"},       {0x2000, "RDHUP"},  {1u << 28, "EXCLUSIVE"},
                {1u << 29, "WAKEUP"}, {1u << 30, "ONESHOT"}, {1u << 31, "ET"}};
  std::string names;
  for (const auto& n : kNames)
    if (events & n.bit) names += (names.empty() ? "" : " ") + std::string(n.name);
  return names.empty() ? hex(events) : hex(events) + " (" + names + ")";
}

uint64_t pipe_buffered(const Image& img, const Fd& f) {
  return f.blob >= 0 && size_t(f.blob) < img.blobs.size() ? img.blobs[size_t(f.blob)].size : 0;
}

// What a kind of fd adds to its line: a pipe's buffered bytes, an eventfd's counter.
std::string fd_details(const Image& img, const Fd& f) {
  if (f.kind == FdKind::Pipe)
    return format(", %" PRIu64 " bytes buffered, size %u", pipe_buffered(img, f), f.pipe_size);
  if (f.kind == FdKind::Eventfd)
    return format(", counter %" PRIu64 "%s", f.eventfd_count, f.eventfd_semaphore ? ", semaphore" : "");
  return "";
}

uint64_t mapped_bytes(const Image& img) {
  uint64_t sum = 0;
  for (const Vma& v : img.vmas) sum += v.end - v.start;
  return sum;
}

// JSON helpers: a growing object/array with commas handled.
struct Json {
  std::string out;
  bool first = true;
  void key(const char* k) {
    if (!first) out += ',';
    first = false;
    append_json_string(out, k);
    out += ':';
  }
  void str(const char* k, const std::string& v) { key(k), append_json_string(out, v); }
  void num(const char* k, uint64_t v) { key(k), out += std::to_string(v); }
  void snum(const char* k, int64_t v) { key(k), out += std::to_string(v); }
  void boolean(const char* k, bool v) { key(k), out += v ? "true" : "false"; }
  void open(const char* k, char c) {
    if (k) key(k);
    else if (!first) out += ',';
    out += c;
    first = true;
  }
  void close(char c) {
    out += c;
    first = false;
  }
};

}  // namespace

std::string vma_perms(const Vma& v) {
  std::string p = "---p";
  if (v.prot & PROT_READ) p[0] = 'r';
  if (v.prot & PROT_WRITE) p[1] = 'w';
  if (v.prot & PROT_EXEC) p[2] = 'x';
  if (v.shared) p[3] = 's';
  return p;
}

uint64_t stored_bytes(const Image& img, const Vma& v) {
  uint64_t sum = 0;
  auto it = std::upper_bound(img.chunks.begin(), img.chunks.end(), v.start,
                             [](uint64_t a, const Chunk& c) { return a < c.start; });
  if (it != img.chunks.begin()) --it;  // a chunk starting below v may reach into it
  for (; it != img.chunks.end() && it->start < v.end; ++it) {
    uint64_t lo = std::max(it->start, v.start), hi = std::min(it->end(), v.end);
    if (lo < hi) sum += hi - lo;
  }
  return sum;
}

std::string render_inspect_text(const InspectReport& r) {
  const Image& img = *r.image;
  const ImageHeader& h = img.header;
  const ProcessInfo& p = img.process;
  std::string o;
  o += format("image:       %s\n", r.path.c_str());
  o += format("format:      version %u, x86-64%s\n", h.version,
              h.flags & kFlagEmbeddedFiles ? ", file pages embedded" : "");
  o += format("size:        %" PRIu64 " bytes (%" PRIu64 " of page data, %" PRIu64 " of metadata)\n", h.file_size,
              h.data_bytes, h.meta_size);
  o += format("created:     %s on %s (kernel %s)\n", local_time(p.wall_time_ns).c_str(), p.hostname.c_str(),
              img.kernel.release.c_str());
  o += "\nprocess:\n";
  o += format("  vpid:       %u (pid %u at the checkpoint, node index %u)\n", p.vpid, p.real_pid, p.node_index);
  o += format("  parent:     %u\n", p.parent_vpid);
  o += format("  exe:        %s\n", p.exe_path.c_str());
  o += format("  argv:       %s\n", joined(p.argv).c_str());
  o += format("  cwd:        %s\n", p.cwd.c_str());
  o += format("  uid/gid:    %u/%u\n", p.uid, p.gid);
  o += format("  generation: %u (restores before this checkpoint)\n", p.generation);
  o += format("  frozen:     %.3f ms\n", double(p.frozen_ns) / 1e6);

  uint64_t stored = 0;
  for (const Chunk& c : img.chunks) stored += c.bytes();
  o += format("\nmemory: %zu vmas, %" PRIu64 " bytes mapped, %" PRIu64 " bytes stored in %zu chunks\n",
              img.vmas.size(), mapped_bytes(img), stored, img.chunks.size());
  for (const Vma& v : img.vmas)
    o += format("  %012" PRIx64 "-%012" PRIx64 " %s %-11s %10" PRIu64 "  %s\n", v.start, v.end, vma_perms(v).c_str(),
                to_string(v.kind), stored_bytes(img, v), v.name.c_str());

  o += format("\nfiles: %zu\n", img.files.size());
  for (size_t i = 0; i < img.files.size(); ++i) {
    const MappedFile& f = img.files[i];
    const HostFileCheck& c = r.files[i];
    std::string state = to_string(c.state);
    if (!c.why.empty()) state += " (" + c.why + ")";
    if (f.embedded) state += ", embedded";
    std::string id = build_id(f);
    o += format("  %s  %" PRIu64 " bytes  %s  %s\n", f.path.c_str(), f.size,
                id.empty() ? ("hash " + hex(f.content_hash)).c_str() : ("build-id " + id).c_str(), state.c_str());
  }

  o += format("\nfds: %zu\n", img.fds.size());
  for (const Fd& f : img.fds) {
    std::string extra = fd_details(img, f) + (f.same_as >= 0 ? format(", same file as fd %d", f.same_as) : "");
    o += format("  %3d %-11s %s (flags 0%o, offset %" PRIu64 "%s)\n", f.fd, to_string(f.kind), f.path.c_str(),
                f.flags, f.offset, extra.c_str());
    for (const EpollWatch& w : f.epoll_watches)
      o += format("      watches fd %d: events %s, data %s\n", w.fd, epoll_events(w.events).c_str(),
                  hex(w.data).c_str());
  }

  o += format("\nthreads: %zu\n", img.threads.size());
  for (size_t i = 0; i < img.threads.size(); ++i) {
    const Thread& t = img.threads[i];
    // A thread that never asked for its vtid has none (libvproc/vtid.h).
    std::string name = i == 0 ? format("main thread %u", t.vtid)
                              : t.vtid ? format("thread %u", t.vtid) : std::string("thread");
    o += format("  %s (tid %u, \"%s\"): ip %s, sp %s, blocked %s\n", name.c_str(), t.tid, t.comm.c_str(),
                hex(t.ip).c_str(), hex(t.sp).c_str(), signal_mask(t.sigmask).c_str());
    const auto& frames = r.stacks[i];
    for (size_t k = 0; k < frames.size(); ++k) o += "    " + format_frame(k, frames[k]) + "\n";
  }
  return o;
}

std::string render_inspect_json(const InspectReport& r) {
  const Image& img = *r.image;
  const ImageHeader& h = img.header;
  const ProcessInfo& p = img.process;
  Json j;
  j.open(nullptr, '{');
  j.str("image", r.path);
  j.num("version", h.version);
  j.str("arch", "x86-64");
  j.boolean("embedded_files", h.flags & kFlagEmbeddedFiles);
  j.num("size", h.file_size);
  j.num("data_bytes", h.data_bytes);
  j.num("meta_bytes", h.meta_size);
  j.num("created_ns", p.wall_time_ns);
  j.str("hostname", p.hostname);
  j.str("kernel", img.kernel.release);
  j.open("process", '{');
  j.num("vpid", p.vpid);
  j.num("parent_vpid", p.parent_vpid);
  j.num("pid", p.real_pid);
  j.num("node_index", p.node_index);
  j.num("uid", p.uid);
  j.num("gid", p.gid);
  j.str("exe", p.exe_path);
  j.open("argv", '[');
  for (const std::string& a : p.argv) {
    if (!j.first) j.out += ',';
    j.first = false;
    append_json_string(j.out, a);
  }
  j.close(']');
  j.str("cwd", p.cwd);
  j.str("comm", p.comm);
  j.num("generation", p.generation);
  j.num("frozen_ns", p.frozen_ns);
  j.close('}');
  j.open("vmas", '[');
  for (const Vma& v : img.vmas) {
    j.open(nullptr, '{');
    j.str("start", hex(v.start));
    j.str("end", hex(v.end));
    j.str("perms", vma_perms(v));
    j.str("kind", to_string(v.kind));
    j.snum("file", v.file);
    j.str("file_offset", hex(v.file_offset));
    j.str("name", v.name);
    j.num("stored_bytes", stored_bytes(img, v));
    j.close('}');
  }
  j.close(']');
  j.open("files", '[');
  for (size_t i = 0; i < img.files.size(); ++i) {
    const MappedFile& f = img.files[i];
    j.open(nullptr, '{');
    j.str("path", f.path);
    j.num("size", f.size);
    j.str("build_id", build_id(f));
    j.str("content_hash", hex(f.content_hash));
    j.boolean("embedded", f.embedded);
    j.str("status", to_string(r.files[i].state));
    j.str("why", r.files[i].why);
    j.close('}');
  }
  j.close(']');
  j.open("fds", '[');
  for (const Fd& f : img.fds) {
    j.open(nullptr, '{');
    j.snum("fd", f.fd);
    j.str("kind", to_string(f.kind));
    j.str("path", f.path);
    j.num("flags", f.flags);
    j.num("offset", f.offset);
    j.snum("same_as", f.same_as);
    if (f.kind == FdKind::Pipe) {
      j.num("pipe_size", f.pipe_size);
      j.num("buffered", pipe_buffered(img, f));
    }
    if (f.kind == FdKind::Eventfd) {
      j.num("eventfd_count", f.eventfd_count);
      j.boolean("semaphore", f.eventfd_semaphore);
    }
    if (f.kind == FdKind::Epoll) {
      j.open("watches", '[');
      for (const EpollWatch& w : f.epoll_watches) {
        j.open(nullptr, '{');
        j.snum("fd", w.fd);
        j.num("events", w.events);
        j.str("data", hex(w.data));
        j.close('}');
      }
      j.close(']');
    }
    j.close('}');
  }
  j.close(']');
  j.open("threads", '[');
  for (size_t i = 0; i < img.threads.size(); ++i) {
    const Thread& t = img.threads[i];
    j.open(nullptr, '{');
    j.num("vtid", t.vtid);
    j.num("tid", t.tid);
    j.str("comm", t.comm);
    j.str("ip", hex(t.ip));
    j.str("sp", hex(t.sp));
    j.str("sigmask", hex(t.sigmask));
    j.open("backtrace", '[');
    for (const Frame& f : r.stacks[i]) {
      j.open(nullptr, '{');
      j.str("ip", hex(f.ip));
      j.str("file", f.file);
      j.str("symbol", f.symbol);
      j.num("offset", f.offset);
      j.close('}');
    }
    j.close(']');
    j.close('}');
  }
  j.close(']');
  j.close('}');
  return j.out + "\n";
}

}  // namespace vproc::tools
