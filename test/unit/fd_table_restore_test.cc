// `vproc restore`'s descriptor table (tools/fd_table_restore.h) from synthetic
// images: files reopened at their offsets and flags, a deleted file recreated,
// shared descriptions, close-on-exec noted, pipes refilled, eventfds and epoll
// instances remade; replaced or shortened files and unrestorable kinds refused
// without leaking a descriptor.
#include <dirent.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "fd_table_restore.h"
#include "image_builder.h"
#include "tool_error.h"

using namespace vproc;
using image::Fd;
using image::FdKind;
using vproc::test::ImageBuilder;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp") + std::string("/vproc-fd-test-XXXXXX");
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { REQUIRE(system(("rm -rf '" + path + "'").c_str()) == 0); }
  std::string file(const char* name) const { return path + "/" + name; }
};

// Descriptors >= 300, where prepare_fds() puts its own (counting them all
// would catch libunwind's pipe, made on the first exception thrown).
int temp_fd_count() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = readdir(d)) n += atoi(e->d_name) >= 300;
  closedir(d);
  return n;
}

Fd fd_entry(int32_t fd, FdKind kind, const std::string& path, uint32_t flags, uint64_t offset = 0) {
  Fd f;
  f.fd = fd;
  f.kind = kind;
  f.path = path;
  f.flags = flags;
  f.offset = offset;
  return f;
}

// Fills dev/ino/size as a checkpoint of PATH now would.
Fd& same_file(Fd& f) {
  struct stat st;
  REQUIRE(stat(f.path.c_str(), &st) == 0);
  f.dev = st.st_dev;
  f.ino = st.st_ino;
  f.size = uint64_t(st.st_size);
  return f;
}

std::string hostname() {
  char h[256] = "";
  gethostname(h, sizeof h - 1);
  return h;
}

image::ImageFile image_with(const TempDir& dir, std::vector<Fd> fds, const std::string& blob = "") {
  ImageBuilder b = ImageBuilder::sample();
  b.model.process.hostname = hostname();
  b.model.fds = std::move(fds);
  if (!blob.empty())
    for (Fd& f : b.model.fds)
      if (f.kind == FdKind::Deleted) f.blob = int32_t(b.add_blob(blob));
  b.write(dir.file("image"));
  return image::ImageFile::open(dir.file("image"));
}

void write_text(const std::string& path, const std::string& text) {
  FILE* f = fopen(path.c_str(), "w");
  REQUIRE(f);
  fputs(text.c_str(), f);
  fclose(f);
}

}  // namespace

TEST_CASE("fd table: files, a deleted file, devices and a directory come back at their numbers") {
  TempDir dir;
  write_text(dir.file("data.txt"), std::string(100, 'x'));
  Fd data = fd_entry(200, FdKind::Regular, dir.file("data.txt"), O_RDWR | O_APPEND, 42);
  Fd gone = fd_entry(201, FdKind::Deleted, dir.file("gone") + " (deleted)", O_RDONLY, 3);
  Fd null = fd_entry(202, FdKind::DevNull, "/dev/null", O_WRONLY | O_CLOEXEC);
  Fd cwd = fd_entry(203, FdKind::Directory, dir.path, O_RDONLY | O_DIRECTORY);
  Fd dup = fd_entry(204, FdKind::Regular, dir.file("data.txt"), O_RDWR | O_APPEND, 42);
  dup.same_as = 200;
  image::ImageFile img = image_with(dir, {same_file(data), gone, null, same_file(cwd), same_file(dup)},
                                    "deleted-contents");

  std::vector<tools::PreparedFd> p = tools::prepare_fds(img, 300);
  REQUIRE(p.size() == 5);
  for (const tools::PreparedFd& f : p) {
    CHECK(f.temp >= 300);
    CHECK((fcntl(f.temp, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(f.cloexec == (f.target == 202));
  }
  CHECK(lseek(p[0].temp, 0, SEEK_CUR) == 42);
  CHECK((fcntl(p[0].temp, F_GETFL) & (O_ACCMODE | O_APPEND)) == (O_RDWR | O_APPEND));
  char buf[32] = {};
  CHECK(read(p[1].temp, buf, sizeof buf - 1) == 13);
  CHECK(std::string(buf) == "eted-contents");
  CHECK((fcntl(p[1].temp, F_GETFL) & O_ACCMODE) == O_RDONLY);
  struct stat st;
  REQUIRE(fstat(p[1].temp, &st) == 0);
  CHECK(st.st_nlink == 0);
  CHECK((fcntl(p[2].temp, F_GETFL) & O_ACCMODE) == O_WRONLY);
  REQUIRE(fstat(p[3].temp, &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  lseek(p[0].temp, 7, SEEK_SET);  // one open file description
  CHECK(lseek(p[4].temp, 0, SEEK_CUR) == 7);

  std::vector<int> temps;
  for (const tools::PreparedFd& f : p) temps.push_back(f.temp);
  tools::install_fds(p);
  for (int fd = 200; fd <= 204; ++fd) {
    CHECK(fcntl(fd, F_GETFD) == 0);  // there, and kept across exec
    close(fd);
  }
  for (int t : temps) CHECK(fcntl(t, F_GETFD) == -1);
}

TEST_CASE("fd table: replaced, shortened or missing files and pipes are refused") {
  TempDir dir;
  write_text(dir.file("data.txt"), std::string(100, 'x'));
  auto refused = [&](Fd bad, const std::string& why) {
    Fd ok = fd_entry(200, FdKind::DevNull, "/dev/null", O_RDONLY);
    image::ImageFile img = image_with(dir, {ok, bad});
    CHECK_THROWS_WITH(tools::prepare_fds(img, 300), Catch::Contains(why));
  };
  Fd replaced = fd_entry(201, FdKind::Regular, dir.file("data.txt"), O_RDONLY);
  same_file(replaced).ino += 1;
  refused(replaced, "fd 201: " + dir.file("data.txt") + " was replaced since the checkpoint");
  Fd shorter = fd_entry(201, FdKind::Regular, dir.file("data.txt"), O_RDONLY);
  same_file(shorter).size = 200;
  refused(shorter, "is shorter than at the checkpoint (100 bytes, was 200): it was truncated or rewritten");
  Fd missing = fd_entry(201, FdKind::Regular, dir.file("nothing"), O_RDONLY);
  refused(missing, "fd 201: cannot reopen " + dir.file("nothing") + ": No such file or directory");
  refused(fd_entry(201, FdKind::Stdio, "pipe:[1]", O_RDONLY), "a pipe or socket can only be restored as fd 0, 1 or 2");
  CHECK(temp_fd_count() == 0);
}

TEST_CASE("fd table: a file that only grew is accepted") {
  TempDir dir;
  write_text(dir.file("log"), "first line\n");
  Fd log = fd_entry(200, FdKind::Regular, dir.file("log"), O_WRONLY | O_APPEND, 11);
  same_file(log);
  // Rewritten in place (same inode), longer: a log the process kept writing.
  FILE* f = fopen(dir.file("log").c_str(), "a");
  fputs("second line\n", f);
  fclose(f);
  image::ImageFile img = image_with(dir, {log});
  std::vector<tools::PreparedFd> p = tools::prepare_fds(img, 300);
  REQUIRE(p.size() == 1);
  tools::discard_fds(p);
  CHECK(fcntl(p[0].temp, F_GETFD) == -1);
}

namespace {

// fdinfo lines of FD that start with KEY.
std::string fdinfo_lines(int fd, const std::string& key) {
  FILE* f = fopen(("/proc/self/fdinfo/" + std::to_string(fd)).c_str(), "r");
  REQUIRE(f);
  std::string out;
  char line[512];
  while (fgets(line, sizeof line, f))
    if (std::string(line).rfind(key, 0) == 0) out += line;
  fclose(f);
  return out;
}

Fd pipe_entry(int32_t fd, uint32_t flags, int32_t blob) {
  Fd f = fd_entry(fd, FdKind::Pipe, "pipe:[777]", flags);
  f.dev = 0xf;
  f.ino = 777;
  f.pipe_size = 8192;
  f.blob = blob;
  return f;
}

}  // namespace

TEST_CASE("fd table: a pipe with buffered bytes, an eventfd and an epoll instance come back") {
  TempDir dir;
  ImageBuilder b = ImageBuilder::sample();
  b.model.process.hostname = hostname();
  int32_t blob = int32_t(b.add_blob("buffered bytes"));
  Fd read_end = pipe_entry(200, O_RDONLY | O_NONBLOCK, blob);
  Fd write_end = pipe_entry(201, O_WRONLY | O_CLOEXEC, blob);
  Fd dup_end = pipe_entry(202, O_WRONLY, blob);
  dup_end.same_as = 201;
  Fd rw_end = pipe_entry(203, O_RDWR, blob);  // opened again through /proc
  Fd counter = fd_entry(204, FdKind::Eventfd, "anon_inode:[eventfd]", O_RDWR);
  counter.eventfd_count = 3;
  counter.eventfd_semaphore = true;
  Fd ep = fd_entry(205, FdKind::Epoll, "anon_inode:[eventpoll]", O_RDWR | O_CLOEXEC);
  ep.epoll_watches = {image::EpollWatch{200, EPOLLIN | EPOLLET | EPOLLERR | EPOLLHUP, 0x1122334455667788},
                      image::EpollWatch{204, EPOLLIN | EPOLLERR | EPOLLHUP, 7}};
  b.model.fds = {read_end, write_end, dup_end, rw_end, counter, ep};
  b.write(dir.file("image"));
  image::ImageFile img = image::ImageFile::open(dir.file("image"));

  std::vector<tools::PreparedFd> p = tools::prepare_fds(img, 300);
  REQUIRE(p.size() == 6);
  CHECK(p[5].watches.size() == 2);
  tools::install_fds(p);
  CHECK(temp_fd_count() == 0);  // the made pipe's own ends are closed too

  CHECK(fcntl(200, F_GETPIPE_SZ) == 8192);
  CHECK((fcntl(200, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == (O_RDONLY | O_NONBLOCK));
  CHECK((fcntl(201, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) == O_WRONLY);
  CHECK((fcntl(203, F_GETFL) & O_ACCMODE) == O_RDWR);
  CHECK(fcntl(201, F_GETFD) == 0);  // close-on-exec is the restorer's to set
  // One pipe, several descriptions: written through one, read through another.
  REQUIRE(write(202, "!", 1) == 1);
  REQUIRE(write(203, "?", 1) == 1);
  // The epoll instance is registered at the process's numbers and reports
  // the pipe (its bytes) and the eventfd (its counter).
  CHECK_THAT(fdinfo_lines(205, "tfd:"), Catch::Contains("tfd:      200 events: 80000019 data: 1122334455667788"));
  CHECK_THAT(fdinfo_lines(205, "tfd:"), Catch::Contains("tfd:      204 events:       19 data:                7"));
  struct epoll_event ev[4];
  int n = epoll_wait(205, ev, 4, 0);
  CHECK(n == 2);
  char buf[64] = {};
  CHECK(read(200, buf, sizeof buf - 1) == 16);
  CHECK(std::string(buf) == "buffered bytes!?");
  CHECK_THAT(fdinfo_lines(204, "eventfd-"), Catch::Contains("eventfd-count:                3"));
  CHECK_THAT(fdinfo_lines(204, "eventfd-"), Catch::Contains("eventfd-semaphore: 1"));
  uint64_t one = 0;
  CHECK(read(204, &one, sizeof one) == sizeof one);
  CHECK(one == 1);  // a semaphore: one at a time
  for (int fd = 200; fd <= 205; ++fd) close(fd);
}

TEST_CASE("fd table: an epoll instance watching what cannot be watched is refused") {
  TempDir dir;
  write_text(dir.file("data.txt"), "x");
  Fd file = fd_entry(200, FdKind::Regular, dir.file("data.txt"), O_RDONLY);
  Fd ep = fd_entry(201, FdKind::Epoll, "anon_inode:[eventpoll]", O_RDWR);
  ep.epoll_watches = {image::EpollWatch{200, EPOLLIN, 1}};
  image::ImageFile img = image_with(dir, {same_file(file), ep});
  CHECK_THROWS_WITH(tools::prepare_fds(img, 300),
                    Catch::Contains("fd 201: the epoll instance watches fd 200, which cannot be watched after the "
                                    "restore: Operation not permitted"));
  CHECK(temp_fd_count() == 0);
}
