#include "transfer_wire.h"

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>

#include "transfer.capnp.h"

namespace vproc::daemon {
namespace {

std::vector<uint64_t> flatten(capnp::MessageBuilder& mb) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(mb);
  std::vector<uint64_t> out(words.size());
  memcpy(out.data(), words.begin(), words.size() * sizeof(capnp::word));
  return out;
}

// Runs `read` on the frame's root; false on any Cap'n Proto complaint.
template <typename Root, typename F>
bool with_root(const void* frame, size_t len, F read) {
  if (len % sizeof(capnp::word) != 0 || (reinterpret_cast<uintptr_t>(frame) & 7)) return false;
  try {
    capnp::FlatArrayMessageReader mr(kj::arrayPtr(static_cast<const capnp::word*>(frame), len / sizeof(capnp::word)));
    read(mr.getRoot<Root>());
    return true;
  } catch (const kj::Exception&) {
    return false;
  }
}

}  // namespace

std::vector<uint64_t> encode_offer(const ImageOffer& o) {
  capnp::MallocMessageBuilder mb(64);
  auto b = mb.initRoot<transfer::ImageOffer>();
  b.setMigration(o.migration);
  b.setVpid(o.vpid);
  b.setSourceNode(o.source_node);
  b.setBytes(o.bytes);
  b.setHeadPageHash(o.head_page_hash);
  b.setStdioMask(o.stdio_mask);
  b.setParent(o.parent);
  b.setUid(o.uid);
  b.setGid(o.gid);
  b.setFlags(o.flags);
  return flatten(mb);
}

std::vector<uint64_t> encode_received(const ImageReceived& r) {
  capnp::MallocMessageBuilder mb(64);
  auto b = mb.initRoot<transfer::ImageReceived>();
  b.setErrno(r.err);
  b.setMessage(r.message);
  b.setBytes(r.bytes);
  return flatten(mb);
}

bool decode_offer(const void* frame, size_t len, ImageOffer& out) {
  return with_root<transfer::ImageOffer>(frame, len, [&](transfer::ImageOffer::Reader r) {
    out.migration = r.getMigration();
    out.vpid = r.getVpid();
    out.source_node = r.getSourceNode();
    out.bytes = r.getBytes();
    out.head_page_hash = r.getHeadPageHash();
    out.stdio_mask = r.getStdioMask();
    out.parent = r.getParent();
    out.uid = r.getUid();
    out.gid = r.getGid();
    out.flags = r.getFlags();
  });
}

bool decode_received(const void* frame, size_t len, ImageReceived& out) {
  return with_root<transfer::ImageReceived>(frame, len, [&](transfer::ImageReceived::Reader r) {
    out.err = r.getErrno();
    auto m = r.getMessage();
    out.message.assign(m.cStr(), m.size());
    out.bytes = r.getBytes();
  });
}

}  // namespace vproc::daemon
