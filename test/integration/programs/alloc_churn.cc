// A C++ program that allocates and frees heavily (std::vector, std::map,
// std::string, new/delete of small and large blocks: malloc's arenas, its
// free lists and mmap'd chunks all change all the time) and prints a checksum
// of everything it computed, one line per round and a total at the end. The
// output depends only on the arguments, so a run checkpointed and restored in
// the middle must print exactly what an uninterrupted run prints.
//
//   alloc_churn ROUNDS [PROGRESS_FILE [HOLD_FILE]]
//
// After each round it appends "round N" to PROGRESS_FILE (if given), so a test
// knows how far it got. While HOLD_FILE holds a number N, it waits before
// round N until the number grows (stop_file.h; no file: no waiting).
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "stop_file.h"

namespace {

// xorshift64*: deterministic, no libc state.
struct Rng {
  uint64_t s;
  uint64_t next() {
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return s * 0x2545F4914F6CDD1Dull;
  }
  size_t below(size_t n) { return size_t(next() % n); }
};

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  return h;
}

struct Node {
  std::vector<uint64_t> data;
  std::string label;
  std::unique_ptr<Node> next;
};

// One round: builds a map of vectors, a linked chain of heap nodes and some
// big blocks (above malloc's mmap threshold), frees them in a scrambled order
// and folds their contents into the checksum.
uint64_t round_checksum(Rng& rng, int round) {
  uint64_t h = uint64_t(round);
  std::map<uint64_t, std::vector<uint64_t>> table;
  for (int i = 0; i < 3000; ++i) {
    uint64_t key = rng.next() % 5000;
    auto& v = table[key];
    size_t n = 1 + rng.below(64);
    for (size_t k = 0; k < n; ++k) v.push_back(rng.next());
    if (rng.below(4) == 0) table.erase(rng.next() % 5000);
  }
  for (const auto& [k, v] : table) {
    h = mix(h, k);
    for (uint64_t x : v) h = mix(h, x);
  }

  std::unique_ptr<Node> head;
  for (int i = 0; i < 400; ++i) {
    auto n = std::make_unique<Node>();
    n->data.resize(1 + rng.below(200), uint64_t(i));
    n->label = "node-" + std::to_string(rng.next() % 100000);
    n->next = std::move(head);
    head = std::move(n);
  }
  for (Node* n = head.get(); n; n = n->next.get()) {
    h = mix(h, n->data.size());
    for (char c : n->label) h = mix(h, uint64_t(c));
  }
  // Unlink iteratively (a recursive destructor of 400 nodes is fine, but keep
  // the stack small).
  while (head) head = std::move(head->next);

  std::vector<char*> blocks;
  for (int i = 0; i < 24; ++i) {
    size_t size = (rng.below(4) == 0) ? (256 << 10) + rng.below(1 << 20) : 16 + rng.below(4096);
    char* b = new char[size];
    for (size_t k = 0; k < size; k += 512) b[k] = char(rng.next());
    b[size - 1] = char(i);
    uint64_t sum = 0;
    for (size_t k = 0; k < size; k += 512) sum += uint8_t(b[k]);
    h = mix(h, sum + uint8_t(b[size - 1]));
    blocks.push_back(b);
    if (rng.below(3) == 0) {
      size_t victim = rng.below(blocks.size());
      delete[] blocks[victim];
      blocks.erase(blocks.begin() + long(victim));
    }
  }
  for (char* b : blocks) delete[] b;
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: alloc_churn ROUNDS [PROGRESS_FILE [HOLD_FILE]]\n");
    return 2;
  }
  int rounds = atoi(argv[1]);
  FILE* progress = argc > 2 ? fopen(argv[2], "a") : nullptr;
  if (argc > 2 && !progress) {
    perror(argv[2]);
    return 2;
  }
  Rng rng{0x1234567890ABCDEFull};
  uint64_t total = 0;
  const char* hold = argc > 3 ? argv[3] : nullptr;
  for (int r = 0; r < rounds; ++r) {
    // Held before round r while HOLD_FILE says r or less: a test checkpoints
    // us at a round of its choosing however slowly it runs itself.
    for (long limit = read_stop_round(hold); limit >= 0 && r >= limit; limit = read_stop_round(hold)) {
      struct timespec ms = {0, 1000000};
      nanosleep(&ms, nullptr);
    }
    uint64_t h = round_checksum(rng, r);
    total = mix(total, h);
    printf("round %d checksum %016llx\n", r, (unsigned long long)h);
    fflush(stdout);
    if (progress) {
      fprintf(progress, "round %d\n", r);
      fflush(progress);
    }
  }
  printf("total %016llx\n", (unsigned long long)total);
  return 0;
}
