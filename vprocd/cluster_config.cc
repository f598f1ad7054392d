#include "cluster_config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "strf.h"
#include "vpid_space.h"

namespace vproc::daemon {
namespace {

bool valid_name(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  for (char c : s)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  return true;
}

// RFC 1123 host name characters; the resolver decides whether it exists.
bool valid_host_name(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s)
    if (!isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') return false;
  return true;
}

std::vector<std::string> split_words(const std::string& line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t start = i;
    while (i < line.size() && !isspace(static_cast<unsigned char>(line[i]))) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

// "host:port", "[v6]:port". Empty string on success, else what is wrong.
std::string parse_address(const std::string& text, ClusterNode& node) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return "expected [IPV6-ADDRESS]:PORT";
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    in6_addr a6;
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return strf("'%s' is not an IPv6 address", host.c_str());
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) return "expected ADDRESS:PORT";
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) return "an IPv6 address needs brackets: [ADDRESS]:PORT";
    if (!valid_host_name(host)) return strf("'%s' is not an IPv4 address or host name", host.c_str());
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return strf("'%s' is not a port number", port.c_str());
  unsigned long p = strtoul(port.c_str(), nullptr, 10);
  if (p == 0 || p > 65535) return strf("port %lu is out of range 1..65535", p);
  node.host = host;
  node.port = uint16_t(p);
  node.address = text;
  return "";
}

std::string directory_of(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

void compute_digest(ClusterConfig& c) {
  std::string canon;
  if (sodium_init() < 0) return;  // cannot happen after load_cluster_config's check
  for (const ClusterNode& n : c.nodes) canon += n.name + " " + n.host + " " + std::to_string(n.port) + "\n";
  crypto_generichash(c.digest.data(), c.digest.size(), reinterpret_cast<const unsigned char*>(canon.data()),
                     canon.size(), nullptr, 0);
}

}  // namespace

int ClusterConfig::index_of(const std::string& name) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].name == name) return int(i);
  return -1;
}

Status parse_cluster_text(const std::string& text, const std::string& path, ClusterConfig& out) {
  out = ClusterConfig{};
  out.path = path;
  auto fail = [&](unsigned line, const std::string& what) {
    return Status::failure(EINVAL, strf("%s:%u: %s", path.c_str(), line, what.c_str()));
  };
  unsigned secret_line = 0;
  unsigned lineno = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    ++lineno;
    if (size_t hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::vector<std::string> w = split_words(line);
    if (w.empty()) continue;
    if (w[0] == "secret") {
      if (w.size() != 2) return fail(lineno, "expected 'secret PATH'");
      if (secret_line) return fail(lineno, strf("a second 'secret' line (the first is line %u)", secret_line));
      secret_line = lineno;
      out.secret_path = w[1][0] == '/' ? w[1] : directory_of(path) + "/" + w[1];
      continue;
    }
    if (w.size() != 2) return fail(lineno, "expected 'NAME ADDRESS:PORT' or 'secret PATH'");
    ClusterNode node;
    node.name = w[0];
    if (!valid_name(node.name))
      return fail(lineno, strf("node name '%s' must be 1 to 63 of A-Z a-z 0-9 . _ -", node.name.c_str()));
    if (std::string why = parse_address(w[1], node); !why.empty())
      return fail(lineno, strf("node %s: %s", node.name.c_str(), why.c_str()));
    for (const ClusterNode& other : out.nodes) {
      if (other.name == node.name) return fail(lineno, strf("node name '%s' appears twice", node.name.c_str()));
      if (other.host == node.host && other.port == node.port)
        return fail(lineno, strf("nodes %s and %s have the same address %s", other.name.c_str(),
                                 node.name.c_str(), node.address.c_str()));
    }
    if (out.nodes.size() == kMaxNodes) return fail(lineno, strf("more than %u nodes", kMaxNodes));
    out.nodes.push_back(std::move(node));
  }
  if (out.nodes.empty()) return Status::failure(EINVAL, strf("%s: no nodes (lines 'NAME ADDRESS:PORT')", path.c_str()));
  if (!secret_line) return Status::failure(EINVAL, strf("%s: no 'secret PATH' line", path.c_str()));
  compute_digest(out);
  return Status::success();
}

Status read_cluster_secret(const std::string& path, std::string& out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int e = errno;
    return Status::failure(e, strf("cannot open the secret file %s: %s", path.c_str(), strerror(e)));
  }
  struct stat st;
  Status s = Status::success();
  if (fstat(fd, &st) != 0) {
    s = Status::failure(errno, strf("cannot stat the secret file %s: %s", path.c_str(), strerror(errno)));
  } else if (!S_ISREG(st.st_mode)) {
    s = Status::failure(EINVAL, strf("the secret file %s is not a regular file", path.c_str()));
  } else if (st.st_mode & (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH)) {
    s = Status::failure(EPERM, strf("the secret file %s is accessible by group or others (mode %04o): "
                                    "chmod 600 it",
                                    path.c_str(), unsigned(st.st_mode & 07777)));
  } else if (st.st_size < off_t(kMinSecretBytes) || st.st_size > off_t(kMaxSecretBytes)) {
    s = Status::failure(EINVAL, strf("the secret file %s holds %lld bytes; it needs %zu to %zu", path.c_str(),
                                     (long long)st.st_size, kMinSecretBytes, kMaxSecretBytes));
  } else {
    out.assign(size_t(st.st_size), '\0');
    size_t got = 0;
    while (got < out.size()) {
      ssize_t n = read(fd, out.data() + got, out.size() - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        s = Status::failure(n < 0 ? errno : EIO, strf("cannot read the secret file %s", path.c_str()));
        break;
      }
      got += size_t(n);
    }
  }
  close(fd);
  if (!s.ok()) out.clear();
  return s;
}

Status load_cluster_config(const std::string& given, ClusterConfig& out) {
  std::string path = given;
  if (path.empty()) return Status::failure(EINVAL, "--cluster: empty path");
  if (path[0] != '/') {
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) return Status::failure(errno, "--cluster: cannot resolve a relative path");
    path = std::string(cwd) + "/" + path;
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return Status::failure(e, strf("cannot open the cluster file %s: %s", path.c_str(), strerror(e)));
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      close(fd);
      return Status::failure(e, strf("cannot read the cluster file %s: %s", path.c_str(), strerror(e)));
    }
    if (n == 0) break;
    text.append(buf, size_t(n));
    if (text.size() > (1u << 20)) {
      close(fd);
      return Status::failure(EFBIG, strf("the cluster file %s is larger than 1 MiB", path.c_str()));
    }
  }
  close(fd);
  if (sodium_init() < 0) return Status::failure(EIO, "libsodium failed to initialise");
  Status s = parse_cluster_text(text, path, out);
  if (!s.ok()) return s;
  return read_cluster_secret(out.secret_path, out.secret);
}

Status select_cluster_node(const ClusterConfig& config, const std::string& name,
                           std::optional<uint32_t> given_index, uint32_t& index_out) {
  int i = config.index_of(name);
  if (i < 0) {
    std::string names;
    for (const ClusterNode& n : config.nodes) names += (names.empty() ? "" : ", ") + n.name;
    return Status::failure(EINVAL, strf("node '%s' is not in the cluster file %s (its nodes: %s); "
                                        "give --node NAME",
                                        name.c_str(), config.path.c_str(), names.c_str()));
  }
  if (given_index && *given_index != uint32_t(i))
    return Status::failure(EINVAL, strf("--node-index %u contradicts the cluster file %s, where %s is node %d",
                                        *given_index, config.path.c_str(), name.c_str(), i));
  index_out = uint32_t(i);
  return Status::success();
}

}  // namespace vproc::daemon
