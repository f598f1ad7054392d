// The process's side of its spawn ring (common/spawn_ring.h). Raw system calls
// only; the caller holds the daemon link (daemon_link.cc), so there is one
// writer at a time.
#pragma once

#include <cstdint>

#include "spawn_ring.h"
#include "wire.h"

namespace vproc::lib {

// The record a one-way message becomes; false for other messages.
bool ring_record_of(const wire::Request& msg, RingRecord& out);
// The message a record stands for (re-sent when the ring is given up).
wire::Request ring_message_of(const RingRecord& r);

// A new, empty ring: a sealed memfd mapped shared, left out of fork children
// (MADV_DONTFORK: a child must not write into its parent's ring). Returns the
// mapping, with the memfd in *fd (the daemon opens it; close it after), or
// nullptr.
void* ring_create(int* fd);
void ring_destroy(void* base);

// Appends and publishes a record; false when the ring is full.
bool ring_append(void* base, const RingRecord& r);

// Calls fn(const RingRecord&) for each record the daemon has not read, oldest first.
template <typename Fn>
void ring_for_each_unread(void* base, Fn fn) {
  RingHeader* h = ring_header(base);
  uint32_t tail = h->tail.load(std::memory_order_relaxed);  // ours
  uint32_t head = h->head.load(std::memory_order_acquire);
  if (tail - head > kRingCapacity) head = tail - kRingCapacity;  // a daemon wrote nonsense
  for (; head != tail; ++head) fn(ring_records(base)[head % kRingCapacity]);
}

}  // namespace vproc::lib
