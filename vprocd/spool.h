// The daemon's spool: where migration images wait, on the source before they
// are sent and on the target before they are restored.
//
//   <directory of the daemon socket>/spool      mode 0711 (writers of other users reach
//                                               their own mig-*.d in it), the daemon's user
//     mig-<migration>.vpimg                     an image received (target), 0600
//     mig-<migration>.d/                        the process's user, 0700 (source):
//       image.vpimg                             written by its snapshot writer
// (<migration> in hex.)
//
// Nothing in it outlives the daemon that wrote it: a starting daemon removes
// every mig-* entry left by a predecessor that died mid-migration.
#pragma once

#include <cstdint>
#include <string>

#include "status.h"

namespace vproc::daemon {

class Spool {
 public:
  // "<dir of socket_path>/spool".
  static std::string dir_for(const std::string& socket_path);

  // Creates the directory (0711) or checks the existing one: a real directory
  // (not a symlink) owned by this user, which is then set to 0711.
  Status open(const std::string& dir);
  const std::string& dir() const { return dir_; }

  // "<dir>/mig-<migration>.vpimg" (the target's copy).
  std::string image_path(uint64_t migration) const;
  // Removes every mig-* entry (files, and directories with their files): what
  // a daemon that died mid-migration left. Returns how many were removed.
  size_t remove_stale() const;
  // Removes the image of `migration` if it is there.
  void remove_image(uint64_t migration) const;
  // A migration's directory for a snapshot writer running as uid/gid:
  // "<dir>/mig-<migration>.d", mode 0700, owned by them.
  Status make_user_dir(uint64_t migration, uint32_t uid, uint32_t gid, std::string& out) const;
  // Removes a migration's directory and image, whatever is there.
  void remove_migration(uint64_t migration) const;
  // Bytes an unprivileged writer may still allocate on the spool's file system.
  Status free_bytes(uint64_t& out) const;

 private:
  std::string user_dir_path(uint64_t migration) const;

  std::string dir_;
};

}  // namespace vproc::daemon
