// The state of one migration in each role (migration_service.h).
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "guest_launcher.h"
#include "image_receiver.h"
#include "image_sender.h"
#include "loop_task.h"
#include "migration_messages.h"
#include "migration_service.h"
#include "pid_types.h"
#include "wire.h"

namespace vproc::daemon {

// The source's side.
struct Migrations::Outgoing {
  enum class Stage { Checkpointing, Sending, AwaitReady, Committing };
  uint64_t id = 0;
  VPid vpid;
  uint32_t target = 0;
  uint32_t flags = 0;
  uint32_t uid = 0, gid = 0, parent = 0;
  uint8_t stdio_mask = 0;
  Stage stage = Stage::Checkpointing;
  std::string dir, image;
  uint64_t image_bytes = 0;
  uint64_t expected_bytes = 0;                    // the image's size as estimated for progress (0: not yet)
  double started = 0, frozen_since = 0, deadline = 0;
  uint32_t request_id = 0;                        // the checkpoint job's
  ConnectionId writer_conn = 0;                   // the writer's MigrateWait, deferred
  std::optional<wire::VerdictAction> verdict;     // decided, maybe not yet delivered
  std::function<void(const MigrateOutcome&)> respond;
  std::function<void(Decision)> ready_respond;    // the target's Ready, waiting for the decision
  std::unique_ptr<LoopTask> connect;
  std::unique_ptr<ImageSender> sender;
  // A copy that was itself a guest: the shadow fed its fd 0 (its stdin channel),
  // and what it had not read goes back to the shadow (migration_stdin.h).
  bool stdin_forwarded = false;
  int old_stdin = -1;                             // that socket, taken from the frozen copy
};

// The target's side.
struct Migrations::Incoming {
  enum class Stage { Preparing, Restoring, Paused, Running, MovedOn, Failed };
  uint64_t id = 0;
  VPid vpid;
  ImageOffer offer;
  std::string image;
  Stage stage = Stage::Preparing;
  std::array<int, 3> stdio{-1, -1, -1};
  uint64_t stdin_ino = 0;        // the socket given to the guest as fd 0 (0: none)
  std::unique_ptr<LoopTask> connect;
  std::unique_ptr<GuestLauncher> launcher;
  RealPid guest;                 // the restored process (its Restored)
  ConnectionId resumed_conn = 0; // its Resumed, deferred until the decision
  bool ready_sent = false, ready_answered = false;
  double deadline = 0, unknown_since = 0;
};

}  // namespace vproc::daemon
