# vproc daemon protocol: local clients (libvproc, tools) <-> vprocd.
# Framing: Cap'n Proto's standard stream framing, one message per request/reply,
# on a SOCK_STREAM Unix socket. Requests are answered in order; spawned/reaped are
# one-way (no reply). Bump kProtocolVersion in wire.h on any incompatible change.
@0xa0bc45ab218d4e7e;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("vproc::proto");

struct Request {
  union {
    hello @0 :Hello;
    spawned @1 :Spawned;
    reaped @2 :UInt32;         # vpid that its parent has waited for
    lease @3 :UInt32;          # how many vpids the caller wants reserved for its forks
    lookup @4 :UInt32;         # vpid -> where it runs
    signal @5 :Signal;
    list @6 :Bool;             # true: include threads
    ping @7 :Void;
    lookupReal @8 :UInt32;     # real pid on this node -> its vpid (drains like lookup)
    checkpoint @9 :CheckpointRequest;       # tool: checkpoint a process (reply when done)
    checkpointJob @10 :CheckpointJob;       # a snapshot writer: what am I to write?
    checkpointResult @11 :CheckpointResult; # a snapshot writer: the outcome
    restored @12 :Restored;                 # vproc restore: this pid continues vpid
    checkpointPolicy @13 :CheckpointPolicy; # vproc-run: periodic checkpoints of a vpid
    migrate @14 :MigrateRequest;            # tool: move a process to another node (reply when done)
    migrateWait @15 :UInt32;                # a migration's snapshot writer (request id): verdict?
    shadowHello @16 :ShadowHello;           # vproc-shadow: I stand in for vpid (commit point)
    shadowWait @17 :UInt32;                 # vproc-shadow (vpid): next event (deferred reply)
    resumed @18 :UInt32;                    # a restored guest (vpid): may I run? (deferred reply)
    guestStatus @19 :GuestStatus;           # a guest's keeper: its wait status changed
    clusterList @20 :ClusterQuery;          # tool: processes / node states of the cluster
    childReport @21 :ChildReport;           # vproc-shadow: a child of the process it stands in for changed
    childWait @22 :ChildWait;               # a remote child's stand-in: its next state (deferred reply)
    migrateProgress @23 :UInt32;            # tool (vpid): how far is its migration? -> progress
    ringAttach @24 :UInt32;                 # libvproc: my spawn ring is my fd N (common/spawn_ring.h) -> ok
  }
}

struct MigrateRequest {
  vpid @0 :UInt32;
  node @1 :Text;               # target node name
  flags @2 :UInt32;            # 2: embed files (as CheckpointRequest)
}

struct ShadowHello {
  vpid @0 :UInt32;
  migration @1 :UInt64;
  target @2 :UInt32;           # node index the guest was restored on
}

struct GuestStatus {
  vpid @0 :UInt32;
  kind @1 :UInt8;              # 1 exited (status = wait status), 2 stopped, 3 continued
  status @2 :Int32;
}

# Remote children (docs/cluster.md, "Children left behind").
struct ChildReport {
  parent @0 :UInt32;           # the migrated process's vpid (the reporter is its shadow)
  child @1 :UInt32;            # the child's real pid on the shadow's node
  kind @2 :UInt8;              # 1 exited (status = wait status), 2 stopped (status = signal), 3 continued
  status @3 :Int32;
}

struct ChildWait {
  parent @0 :UInt32;
  child @1 :UInt32;            # the child's vpid
  seq @2 :UInt32;              # the last state the asker has (0: none): answer once there is a newer one
}

struct CheckpointRequest {
  vpid @0 :UInt32;
  path @1 :Text;               # absolute path of the image to write
  flags @2 :UInt32;            # 1: stop the process once the image is complete; 2: embed files
}

struct CheckpointJob {
  vpid @0 :UInt32;
  requestId @1 :UInt32;        # from the checkpoint signal's si_value
}

struct CheckpointResult {
  requestId @0 :UInt32;
  vpid @1 :UInt32;
  errno @2 :Int32;             # 0: the image is complete at its path
  message @3 :Text;
  imageBytes @4 :UInt64;
  dataBytes @5 :UInt64;
  frozenNs @6 :UInt64;
  writeNs @7 :UInt64;
  path @8 :Text;
}

struct Restored {
  vpid @0 :UInt32;
  parent @1 :UInt32;
  real @2 :UInt32;             # the restoring process (it execs the restorer, keeping its pid)
  migration @3 :UInt64;        # 0: a plain restore; else the migration bringing a guest here
}

struct CheckpointPolicy {
  vpid @0 :UInt32;
  intervalMs @1 :UInt32;       # 0: none
  keep @2 :UInt32;             # images to keep (oldest removed)
  dir @3 :Text;
}

struct Hello {
  protocol @0 :UInt32;
  vpid @1 :UInt32;             # 0: allocate one for the caller; else re-register it
  parent @2 :UInt32;           # parent's vpid, or its real pid when not under vproc
  ckptSignal @3 :UInt32;       # the signal that asks this process for a checkpoint (0: none)
}

struct Spawned {
  vpid @0 :UInt32;
  real @1 :UInt32;
  parent @2 :UInt32;
  thread @3 :Bool;             # a thread of the sender (vpid is then a vtid)
}

struct Signal {
  target @0 :Int64;            # vpid, or -vpid for the process group it leads
  signo @1 :Int32;
  queued @2 :Bool;             # sigqueue(3) to another node: SI_QUEUE carrying `value`
  value @3 :UInt64;
}

struct ClusterQuery {
  threads @0 :Bool;
  node @1 :Text;               # only this node; empty: every node
  nodesOnly @2 :Bool;          # no processes: only the nodes' states (vproc status)
}

# The answer to clusterList. Without a cluster `nodes` is empty.
struct ClusterList {
  entries @0 :List(Entry);
  nodes @1 :List(NodeState);
}

struct NodeState {
  index @0 :UInt32;
  name @1 :Text;
  address @2 :Text;
  reachable @3 :Bool;
  message @4 :Text;            # why not
  processes @5 :UInt32;
  self @6 :Bool;               # the daemon that answers
}

struct Reply {
  union {
    ok @0 :Void;
    error @1 :Error;
    hello @2 :HelloOk;
    lease @3 :Lease;
    lookup @4 :Where;
    list @5 :List(Entry);
    pong @6 :Pong;
    checkpointSpec @7 :CheckpointSpec;
    checkpointDone @8 :CheckpointResult;
    migrateDone @9 :MigrateResult;
    verdict @10 :Verdict;
    shadowEvent @11 :ShadowEvent;
    clusterList @12 :ClusterList;
    childState @13 :ChildState;
    progress @14 :Progress;
  }
}

struct MigrateResult {
  errno @0 :Int32;             # 0: the process runs on `to`
  message @1 :Text;
  from @2 :Text;
  to @3 :Text;
  imageBytes @4 :UInt64;
  frozenNs @5 :UInt64;         # from the checkpoint signal to the program running again
  totalNs @6 :UInt64;
}

# How far a migration is (for `migrate`'s progress display).
struct Progress {
  stage @0 :UInt8;             # 0 none known, 1 checking files, 2 checkpointing, 3 sending, 4 restoring, 5 committing
  bytesDone @1 :UInt64;        # checkpointing: image bytes written; sending: bytes sent
  bytesTotal @2 :UInt64;       # the image's (expected) size; 0: no byte count in this stage
}

struct Verdict {
  action @0 :UInt8;            # 0 continue here, 1 become the shadow, 2 exit quietly (moved on)
  migration @1 :UInt64;
  target @2 :UInt32;           # node index of the guest
}

struct ShadowEvent {
  kind @0 :UInt8;              # 1 new stdio sockets (SCM_RIGHTS with the reply), 2 guest exited,
                               # 3 guest stopped, 4 guest continued
  status @1 :Int32;            # kind 2: wait status; 3: stop signal
  fdMask @2 :UInt8;            # kind 1: which of fd 0,1,2 the passed sockets stand for, in order
}

struct ChildState {
  seq @0 :UInt32;              # 0: nothing known yet (the child runs)
  kind @1 :UInt8;              # as ChildReport's; 0 with seq 0
  status @2 :Int32;
}

struct CheckpointSpec {
  path @0 :Text;
  flags @1 :UInt32;
}

struct Error {
  errno @0 :Int32;
  message @1 :Text;
}

struct HelloOk {
  vpid @0 :UInt32;
  lease @1 :Lease;
  nodeIndex @2 :UInt32;
  nodeName @3 :Text;
  guest @4 :Bool;              # a migrated process (its kernel parent is not its parent) ...
  parent @5 :UInt32;           # ... whose parent is this (with guest only)
}

struct Lease {
  first @0 :UInt32;            # vpids first .. first+count-1 are reserved for the caller
  count @1 :UInt32;
}

struct Where {
  real @0 :UInt32;
  state @1 :UInt8;             # RecordState
  nodeIndex @2 :UInt32;
  vpid @3 :UInt32;             # set in answers to lookupReal
}

struct Entry {
  vpid @0 :UInt32;
  nodeIndex @1 :UInt32;
  nodeName @2 :Text;
  real @3 :UInt32;
  parent @4 :UInt32;
  state @5 :Text;              # running | sleeping | stopped | zombie | disk-wait | ...
  uid @6 :UInt32;
  startTimeMs @7 :UInt64;      # Unix epoch, milliseconds
  argv @8 :List(Text);
  thread @9 :Bool;
  tgid @10 :UInt32;
}

struct Pong {
  protocol @0 :UInt32;
  nodeIndex @1 :UInt32;
  nodeName @2 :Text;
  daemonPid @3 :UInt32;
  processes @4 :UInt32;
}
