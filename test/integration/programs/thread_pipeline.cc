// A producer/consumer pipeline of std::threads for the multi-threaded
// checkpoint and migration tests (ckpt_cxx_threads.sh, migrate_cxx_threads.sh):
//
//   thread_pipeline ITEMS [WORKERS] [PAUSE_US]
//
// A producer thread pushes ITEMS jobs into a bounded queue (std::mutex, two
// std::condition_variables: "not full", "not empty"); WORKERS (default 6)
// consumers pop them, hash each (a few thousand rounds of a 64-bit mixer,
// then a sleep of PAUSE_US, default 2000 us, so a run lasts seconds) and
// hand the result to the main thread through a second mutex-protected map
// and condition variable. The main thread prints "item N HASH" for every job
// in order (flushed: a test can watch the lines), then the total and
// EXIT-SUCCESS. At any moment some threads wait on a condition variable, some
// sleep, some hash, and the mutexes change hands constantly. The output
// depends only on the arguments.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "mix64.h"

namespace {

constexpr size_t kQueueLimit = 16;

uint64_t hash_job(uint64_t n) {
  uint64_t h = mix(n + 1);
  for (uint64_t k = 0; k < 4000 + n % 64; ++k) h = mix(h ^ k);
  return h;
}

class Pipeline {
 public:
  Pipeline(long items, int workers, long pause_us) : items_(items), workers_(workers), pause_us_(pause_us) {}

  void produce() {
    for (long n = 0; n < items_; ++n) {
      std::unique_lock<std::mutex> lock(jobs_mutex_);
      not_full_.wait(lock, [this] { return jobs_.size() < kQueueLimit; });
      jobs_.push_back(n);
      not_empty_.notify_one();
    }
    std::lock_guard<std::mutex> lock(jobs_mutex_);
    producer_done_ = true;
    not_empty_.notify_all();
  }

  void consume() {
    for (;;) {
      long n;
      {
        std::unique_lock<std::mutex> lock(jobs_mutex_);
        not_empty_.wait(lock, [this] { return !jobs_.empty() || producer_done_; });
        if (jobs_.empty()) return;
        n = jobs_.front();
        jobs_.pop_front();
        not_full_.notify_one();
      }
      uint64_t h = hash_job(uint64_t(n));
      if (pause_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(pause_us_ + (n % 3) * pause_us_ / 2));
      std::lock_guard<std::mutex> lock(done_mutex_);
      done_[n] = h;
      done_cv_.notify_one();
    }
  }

  // Prints every result in order as it becomes available; returns their sum.
  uint64_t collect() {
    uint64_t total = 0;
    for (long n = 0; n < items_; ++n) {
      uint64_t h;
      {
        std::unique_lock<std::mutex> lock(done_mutex_);
        done_cv_.wait(lock, [this, n] { return done_.count(n) != 0; });
        h = done_[n];
        done_.erase(n);
      }
      total = mix(total ^ h);
      printf("item %ld %016llx\n", n, static_cast<unsigned long long>(h));
      fflush(stdout);
    }
    return total;
  }

  int workers() const { return workers_; }

 private:
  const long items_;
  const int workers_;
  const long pause_us_;
  std::mutex jobs_mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<long> jobs_;
  bool producer_done_ = false;
  std::mutex done_mutex_;
  std::condition_variable done_cv_;
  std::map<long, uint64_t> done_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 4) {
    fprintf(stderr, "usage: thread_pipeline ITEMS [WORKERS] [PAUSE_US]\n");
    return 2;
  }
  long items = atol(argv[1]);
  int workers = argc > 2 ? atoi(argv[2]) : 6;
  long pause_us = argc > 3 ? atol(argv[3]) : 2000;
  if (items < 1 || workers < 1 || workers > 256 || pause_us < 0) {
    fprintf(stderr, "thread_pipeline: bad arguments\n");
    return 2;
  }
  Pipeline p(items, workers, pause_us);
  std::vector<std::thread> threads;
  threads.emplace_back(&Pipeline::produce, &p);
  for (int i = 0; i < workers; ++i) threads.emplace_back(&Pipeline::consume, &p);
  uint64_t total = p.collect();
  for (std::thread& t : threads) t.join();
  printf("total %016llx of %ld items, %d workers\n", static_cast<unsigned long long>(total), items, workers);
  printf("EXIT-SUCCESS\n");
  return 0;
}
