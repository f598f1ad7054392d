# vproc checkpoint image metadata. The image file is:
#   [0, 4096)        ImageHeader (image_header.h, plain struct, its own hash)
#   [4096, ...)      page data, every chunk page-aligned (so it can be mapped)
#   [metaOffset, +metaSize)  this message, Cap'n Proto flat (unpacked) encoding
# Bump kImageVersion in image_header.h on any incompatible change.
@0xd6a4f1c1b5e7a903;

using Cxx = import "/capnp/c++.capnp";
# Not vproc::image itself: image_model.h has the plain C++ types of the same names.
$Cxx.namespace("vproc::image::schema");

struct Image {
  process @0 :Process;
  vmas @1 :List(Vma);            # sorted by start, non-overlapping
  chunks @2 :List(Chunk);        # page data, sorted by address
  files @3 :List(MappedFile);    # files that vmas reference (Vma.file indexes this)
  fds @4 :List(Fd);
  threads @5 :List(Thread);      # threads[0] is the main thread
  sigactions @6 :List(SigAction);  # 64 entries, index = signo - 1
  kernel @7 :Kernel;
  cpu @8 :Cpu;
  blobs @9 :List(Blob);          # other stored byte ranges (deleted files' contents, pipes' buffered bytes)
}

struct Process {
  vpid @0 :UInt32;
  parentVpid @1 :UInt32;         # or the parent's real pid when it was not under vproc
  nodeIndex @2 :UInt32;          # node the process ran on when checkpointed
  uid @3 :UInt32;
  gid @4 :UInt32;
  realPid @5 :UInt32;            # kernel pid at checkpoint time (informational)
  exePath @6 :Text;              # /proc/self/exe at checkpoint time
  argv @7 :List(Text);           # informational (/proc/self/cmdline)
  cwd @8 :Text;
  umask @9 :UInt32;
  personality @10 :UInt32;
  rlimits @11 :List(Rlimit);     # index = resource number
  mm @12 :MmLayout;
  auxv @13 :Data;                # /proc/self/auxv, raw (pairs of UInt64)
  itimers @14 :List(Itimer);     # ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF
  comm @15 :Text;
  wallTimeNs @16 :UInt64;        # CLOCK_REALTIME at the checkpoint
  monotonicNs @17 :UInt64;       # CLOCK_MONOTONIC at the checkpoint
  frozenNs @18 :UInt64;          # how long the process was stopped for the snapshot
  stateAddr @19 :UInt64;         # libvproc's checkpoint state in the image (restore info goes there)
  generation @20 :UInt32;        # restores this process has been through
  hostname @21 :Text;
}

struct MmLayout {
  startCode @0 :UInt64;
  endCode @1 :UInt64;
  startData @2 :UInt64;
  endData @3 :UInt64;
  startBrk @4 :UInt64;
  brk @5 :UInt64;
  startStack @6 :UInt64;
  argStart @7 :UInt64;
  argEnd @8 :UInt64;
  envStart @9 :UInt64;
  envEnd @10 :UInt64;
}

struct Rlimit {
  cur @0 :UInt64;
  max @1 :UInt64;
}

struct Itimer {
  intervalUs @0 :UInt64;
  valueUs @1 :UInt64;            # 0: disarmed
}

struct Kernel {
  release @0 :Text;              # uname -r
  vvar @1 :Range;                # [vvar]; zero when absent
  vvarVclock @2 :Range;          # [vvar_vclock] (6.13+)
  vdso @3 :Range;
  vdsoHash @4 :UInt64;           # XXH3-64 of the vdso's bytes: same kernel build <=> same vdso
}

struct Range {
  start @0 :UInt64;
  end @1 :UInt64;
}

struct Cpu {
  xcr0 @0 :UInt64;               # XGETBV(0): state components the OS enabled
  xfeatures @1 :UInt64;          # components present in the saved signal frames
  xstateSize @2 :UInt32;         # signal frame's xstate_size (sw_reserved)
  hwcap @3 :UInt64;
  hwcap2 @4 :UInt64;
}

struct Vma {
  start @0 :UInt64;
  end @1 :UInt64;
  prot @2 :UInt32;               # PROT_READ | PROT_WRITE | PROT_EXEC
  shared @3 :Bool;               # MAP_SHARED (only read-only file mappings are saved)
  kind @4 :Kind;
  file @5 :Int32 = -1;           # index into Image.files for file mappings
  fileOffset @6 :UInt64;
  name @7 :Text;                 # as /proc/self/maps names it (informational)

  enum Kind {
    anonymous @0;                # private anonymous memory: zero except stored chunks
    file @1;                     # private file mapping: the file, overlaid by stored chunks
    stack @2;                    # the main thread's stack (restored MAP_GROWSDOWN)
    heap @3;                     # [heap], between startBrk and brk
    reserved @4;                 # PROT_NONE reservation, no contents
    sharedFile @5;               # MAP_SHARED read-only file mapping
  }
}

struct Chunk {
  start @0 :UInt64;              # virtual address
  pages @1 :UInt32;
  offset @2 :UInt64;             # byte offset in the image file, page-aligned
  hash @3 :UInt64;               # XXH3-64 of the chunk's bytes
}

struct Blob {
  offset @0 :UInt64;             # byte offset in the image file, page-aligned
  size @1 :UInt64;
  hash @2 :UInt64;               # XXH3-64
}

struct MappedFile {
  path @0 :Text;
  dev @1 :UInt64;
  ino @2 :UInt64;
  size @3 :UInt64;
  mtimeNs @4 :Int64;
  buildId @5 :Data;              # ELF NT_GNU_BUILD_ID, empty if none
  contentHash @6 :UInt64;        # XXH3-64 of the whole file
  embedded @7 :Bool;             # every page of its mappings is stored as a chunk
}

struct Fd {
  fd @0 :Int32;
  kind @1 :Kind;
  path @2 :Text;
  flags @3 :UInt32;              # open flags (fdinfo "flags", O_CLOEXEC included)
  offset @4 :UInt64;
  sameAs @5 :Int32 = -1;         # a lower fd sharing this open file description
  dev @6 :UInt64;
  ino @7 :UInt64;
  size @8 :UInt64;
  mtimeNs @9 :Int64;
  blob @10 :Int32 = -1;          # deleted: index into Image.blobs (the contents);
                                 # pipe: the bytes buffered in it (-1: none)
  pipeSize @11 :UInt32;          # pipe: its capacity (F_GETPIPE_SZ)
  epollWatches @12 :List(EpollWatch);  # epoll: its registrations
  eventfdCount @13 :UInt64;      # eventfd: its counter
  eventfdSemaphore @14 :Bool;    # eventfd: EFD_SEMAPHORE

  enum Kind {
    regular @0;                  # reopened by path, same file checked, offset restored
    deleted @1;                  # deleted but open: contents stored, recreated unlinked
    directory @2;
    devNull @3;
    devZero @4;
    devUrandom @5;
    devRandom @6;
    tty @7;                      # a terminal: the restoring command's terminal
    stdio @8;                    # fd 0-2 that is a pipe/socket/tty: taken from the restoring command
    pipe @9;                     # a pipe with both ends in the process; the fds with the
                                 # same ino are its ends (access mode in flags)
    epoll @10;                   # an epoll instance; what it watches is in epollWatches
    eventfd @11;
  }
}

# One registration of an epoll instance (/proc/PID/fdinfo "tfd: events: data:"),
# added again with EPOLL_CTL_ADD once every fd is back at its number.
struct EpollWatch {
  fd @0 :Int32;                  # the watched fd (an fd of the image)
  events @1 :UInt32;             # as the kernel holds them (EPOLLERR|EPOLLHUP added)
  data @2 :UInt64;
}

struct Thread {
  tid @0 :UInt32;                # kernel tid at checkpoint (informational)
  vtid @1 :UInt32;
  fsBase @2 :UInt64;
  gsBase @3 :UInt64;
  resume @4 :Resume;             # where restore continues: inside libvproc's checkpoint handler
  frame @5 :UInt64;              # address of the interrupted code's ucontext_t
  ip @6 :UInt64;                 # interrupted code's registers (inspect, checks)
  sp @7 :UInt64;
  bp @8 :UInt64;
  sigmask @9 :UInt64;            # interrupted code's signal mask
  tidAddress @10 :UInt64;        # clear_child_tid (glibc: &pthread->tid)
  robustList @11 :UInt64;
  robustLen @12 :UInt64;
  rseqArea @13 :UInt64;          # 0: none registered
  rseqLen @14 :UInt32;
  rseqSig @15 :UInt32;
  comm @16 :Text;
}

# The checkpoint handler's callee-saved registers (System V ABI), saved where
# the handler asked for the snapshot; restore returns there.
struct Resume {
  rip @0 :UInt64;
  rsp @1 :UInt64;
  rbx @2 :UInt64;
  rbp @3 :UInt64;
  r12 @4 :UInt64;
  r13 @5 :UInt64;
  r14 @6 :UInt64;
  r15 @7 :UInt64;
}

struct SigAction {
  handler @0 :UInt64;
  flags @1 :UInt64;
  restorer @2 :UInt64;
  mask @3 :UInt64;
}
