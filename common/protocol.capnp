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
  }
}

struct Hello {
  protocol @0 :UInt32;
  vpid @1 :UInt32;             # 0: allocate one for the caller; else re-register it
  parent @2 :UInt32;           # parent's vpid, or its real pid when not under vproc
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
  }
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
