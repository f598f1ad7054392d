// The target side of an `image` connection (docs/cluster.md, migration step 3):
// reads the offer, checks it against this node's limits and the spool's free
// space, receives exactly the offered bytes into a new spool file, checks the
// head page, and answers ImageReceived.
//
// "Received" and "restored" are two answers: ImageReceived goes back on this
// connection as soon as the file is complete and checked (then the connection
// is done), and the restore's outcome goes later over the control connection
// (Ready). So the receiver answers by itself, before `done` runs on the loop.
// On any failure it answers with the error (when the peer is still there),
// removes the partial file and reports the failure to `done`.
#pragma once

#include <ev.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "loop_task.h"
#include "spool.h"
#include "status.h"
#include "transfer_io.h"
#include "transfer_wire.h"

namespace vproc::daemon {

struct ReceiverLimits {
  uint64_t max_bytes = 1ull << 40;  // largest image this node accepts
};

struct ReceivedImage {
  std::string path;  // in the spool; the receiver's caller removes it when done with it
  ImageOffer offer;  // the offer it came with
};

// The blocking transfer, for the worker thread (and the benchmark). On success
// `out` names the complete file and the source has been told. Refusals:
// EFBIG (larger than limits.max_bytes), ENOSPC ("not enough space in SPOOL:
// need X, have Y"), EEXIST (that migration's image is already there), EINVAL
// (an empty offer); EPROTO for a malformed offer; EBADMSG when the head page
// does not match the offer; EPIPE when the source hangs up early, ETIMEDOUT
// when it goes silent, ECANCELED after cancel().
Status receive_image(TransferSocket& sock, const Spool& spool, const ReceiverLimits& limits, ReceivedImage& out,
                     TransferProgress& progress);

class ImageReceiver {
 public:
  using Done = std::function<void(const Status&, const ReceivedImage&)>;

  // `spool` must outlive the receiver.
  ImageReceiver(struct ev_loop* loop, const Spool& spool, ReceiverLimits limits = {}, TransferTuning tuning = {})
      : task_(loop), spool_(spool), limits_(limits), tuning_(tuning) {}
  // Cancels a transfer still running and waits for its thread; `done` is then
  // not called, and an image received but not yet handed to `done` is removed.
  ~ImageReceiver();
  ImageReceiver(const ImageReceiver&) = delete;
  ImageReceiver& operator=(const ImageReceiver&) = delete;

  // Once per ImageReceiver. Takes `fd` (an authenticated connection whose Open
  // said `image`; closed before `done` runs). `done` runs on the loop and may
  // destroy this object.
  void start(int fd, Done done);
  // From the loop thread: ends the transfer (ECANCELED) within moments.
  void cancel();

  uint64_t bytes_received() const { return progress_.done.load(std::memory_order_relaxed); }
  uint64_t bytes_total() const { return progress_.total.load(std::memory_order_relaxed); }
  bool running() const { return task_.running(); }

 private:
  LoopTask task_;
  const Spool& spool_;
  ReceiverLimits limits_;
  TransferTuning tuning_;
  int fd_ = -1;
  std::unique_ptr<TransferSocket> sock_;
  Status result_;
  ReceivedImage image_;
  TransferProgress progress_;
};

}  // namespace vproc::daemon
