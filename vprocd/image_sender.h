// The source side of an `image` connection (docs/cluster.md, migration step 3):
// the offer frame, then the image file's bytes with sendfile(2) (page cache to
// socket, no copy through user space), then the target's ImageReceived.
//
// The caller opens and authenticates the connection; ImageSender does the rest
// on its own thread and reports on the libev loop.
#pragma once

#include <ev.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "loop_task.h"
#include "status.h"
#include "transfer_io.h"
#include "transfer_wire.h"

namespace vproc::daemon {

// The blocking transfer, for the worker thread (and the benchmark). Fills in
// `offer.bytes` and `offer.head_page_hash` from the file, and `progress` as
// bytes go out. Success means the target has the whole image in its spool. A
// refusal or failure reported by the target comes back with the target's errno
// and message unchanged; the sender's own failures say what went wrong and
// after how many bytes (ETIMEDOUT for a silent peer or a cut link, EPIPE /
// ECONNRESET for a closed one, ECANCELED after cancel()).
Status send_image(TransferSocket& sock, const std::string& image_path, ImageOffer& offer, TransferProgress& progress);

class ImageSender {
 public:
  using Done = std::function<void(const Status&)>;

  ImageSender(struct ev_loop* loop, TransferTuning tuning = {}) : task_(loop), tuning_(tuning) {}
  // Cancels a transfer still running and waits for its thread; `done` is then
  // not called.
  ~ImageSender();
  ImageSender(const ImageSender&) = delete;
  ImageSender& operator=(const ImageSender&) = delete;

  // Once per ImageSender. Takes `fd` (closed before `done` runs). `done` runs
  // on the loop and may destroy this object.
  void start(int fd, std::string image_path, const ImageOffer& offer, Done done);
  // From the loop thread: ends the transfer (ECANCELED) within moments.
  void cancel();

  // Progress, from any thread.
  uint64_t bytes_sent() const { return progress_.done.load(std::memory_order_relaxed); }
  // 0 until the file has been opened.
  uint64_t bytes_total() const { return progress_.total.load(std::memory_order_relaxed); }
  bool running() const { return task_.running(); }

 private:
  LoopTask task_;
  TransferTuning tuning_;
  int fd_ = -1;
  std::unique_ptr<TransferSocket> sock_;
  std::string path_;
  ImageOffer offer_;
  Status result_;
  TransferProgress progress_;
};

}  // namespace vproc::daemon
