# vproc peer protocol: vprocd <-> vprocd over TCP (docs/cluster.md, "Peer transport").
# Framing: Cap'n Proto's standard stream framing, one message per frame.
#
# Every connection starts with the handshake (vprocd/peer_handshake.h):
#   connector -> AuthHello;  listener -> AuthChallenge;
#   connector -> AuthProof, Open;  listener -> AuthWelcome
# and then, by Open's kind:
#   control      PeerRequest frames from the connector, PeerReply frames back
#                (matched by id, in any order);
#   image, stdio the socket is handed to the daemon's channel hook; raw bytes
#                may follow the Open frame.
# Adding a request: a member of PeerRequest's union (and, if it answers with
# something new, of PeerReply's), plus Cluster::handle() for it on the
# receiving side. Bump protocolVersion on any incompatible change.
@0xc511d273d2cf41e7;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("vproc::peer");

const protocolVersion :UInt32 = 1;

# --- handshake ------------------------------------------------------------

struct AuthHello {
  version @0 :UInt32;
  node @1 :UInt32;             # the connector's node index
  nonce @2 :Data;              # 32 random bytes
  clusterDigest @3 :Data;      # of the cluster file's node list: both sides must agree
}

struct AuthChallenge {
  version @0 :UInt32;
  node @1 :UInt32;             # the listener's node index
  nonce @2 :Data;              # 32 random bytes
  proof @3 :Data;              # the listener's HMAC-SHA-256 proof (peer_auth.h)
  refusal @4 :Text;            # non-empty: refused before any proof (version, digest, node)
}

struct AuthProof {
  proof @0 :Data;              # the connector's proof
}

struct AuthWelcome {}

# --- what a connection is for -----------------------------------------------

struct Open {
  union {
    control @0 :Void;
    image @1 :ImageOpen;
    stdio @2 :StdioOpen;
  }
}

# A migration image: transfer.capnp's ImageOffer frame and the image follow.
struct ImageOpen {}

# One forwarded stdio stream of a guest, opened to the shadow's node.
struct StdioOpen {
  vpid @0 :UInt32;
  migration @1 :UInt64;
  fd @2 :UInt8;                # the shadow's 0, 1 or 2
}

# --- control requests ---------------------------------------------------------

struct PeerRequest {
  id @0 :UInt64;               # chosen by the connector, echoed in the reply
  union {
    lookup @1 :UInt32;         # a vpid whose home is the receiver: where does it run? -> where
    signal @2 :SignalRequest;  # -> ok
    list @3 :ListRequest;      # the receiver's own processes -> list
    ping @4 :Void;             # -> pong
    # Migration (docs/cluster.md, "Migration"; vprocd/peer_migration.cc):
    migrateOut @5 :MigrateOut;         # to the node the process runs on -> migrated
    ready @6 :Ready;                   # target -> source -> decision
    migrationStatus @7 :UInt64;        # target -> source -> decision
    relocated @8 :Relocated;           # source -> home -> ok
    guestChanged @9 :GuestChanged;     # the guest's node -> home -> ok
    killGuest @10 :KillGuest;          # home -> the guest's node -> ok
    childWait @11 :ChildWait;          # a remote child's node -> its parent's home -> childState
    filesCheck @12 :FilesCheck;        # source -> target, before the checkpoint -> ok
    migrationProgress @13 :UInt32;     # a vpid's migration: any node -> its source -> progress
  }
}

struct MigrateOut {
  vpid @0 :UInt32;
  target @1 :UInt32;
  uid @2 :UInt32;
  euid @3 :UInt32;
  flags @4 :UInt32;
}

struct Ready {
  migration @0 :UInt64;
  vpid @1 :UInt32;
  real @2 :UInt32;
  errno @3 :Int32;
  message @4 :Text;
}

struct Relocated {
  vpid @0 :UInt32;
  node @1 :UInt32;
  real @2 :UInt32;
  migration @3 :UInt64;
}

struct GuestChanged {
  vpid @0 :UInt32;
  kind @1 :UInt8;
  status @2 :Int32;
  migration @3 :UInt64;
}

# Children left behind (docs/cluster.md): the next state of a migrated
# parent's child after `seq`, answered when there is one (or, unchanged, after
# a while: the asker asks again).
struct ChildWait {
  parent @0 :UInt32;
  child @1 :UInt32;
  seq @2 :UInt32;
}

struct ChildState {
  seq @0 :UInt32;
  kind @1 :UInt8;
  status @2 :Int32;
}

# The files a migrating process uses, which the target must have
# (vprocd/migration_files.h).
struct FilesCheck {
  mapped @0 :List(MappedFileId);
  open @1 :List(OpenFileId);
}

struct MappedFileId {
  path @0 :Text;
  dev @1 :UInt64;
  ino @2 :UInt64;
  size @3 :UInt64;
  mtimeNs @4 :Int64;
  contentHash @5 :UInt64;
}

struct OpenFileId {
  path @0 :Text;
  size @1 :UInt64;
}

# How far the receiver's migration of a vpid is (as protocol.capnp's Progress;
# stage 0: the receiver migrates no such vpid).
struct Progress {
  stage @0 :UInt8;
  bytesDone @1 :UInt64;
  bytesTotal @2 :UInt64;
}

struct KillGuest {
  vpid @0 :UInt32;
  migration @1 :UInt64;
}

struct Migrated {
  errno @0 :Int32;
  message @1 :Text;
  from @2 :UInt32;
  to @3 :UInt32;
  imageBytes @4 :UInt64;
  frozenNs @5 :UInt64;
  totalNs @6 :UInt64;
}

struct SignalRequest {
  target @0 :Int64;            # vpid, or -vpid for the process group it leads
  signo @1 :Int32;
  uid @2 :UInt32;              # the original caller's real and effective uid: kill(2)'s rule
  euid @3 :UInt32;
  queued @4 :Bool;             # sigqueue(3): deliver SI_QUEUE with `value`
  value @5 :UInt64;
}

struct ListRequest {
  threads @0 :Bool;
}

struct PeerReply {
  id @0 :UInt64;
  union {
    error @1 :Error;
    ok @2 :Void;
    where @3 :Where;
    list @4 :ListReply;
    pong @5 :Pong;
    migrated @6 :Migrated;
    decision @7 :UInt8;        # migration_messages.h Decision
    childState @8 :ChildState;
    progress @9 :Progress;
  }
}

struct Error {
  errno @0 :Int32;
  message @1 :Text;
}

struct Where {
  real @0 :UInt32;             # the real pid on node `node`
  state @1 :UInt8;             # RecordState
  node @2 :UInt32;             # where the process runs now
}

struct ListReply {
  frame @0 :Data;              # a daemon-protocol process list (wire::encode_list)
}

struct Pong {
  processes @0 :UInt32;
  daemonPid @1 :UInt32;
}
