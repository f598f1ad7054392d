# vproc image transfer: one `image` connection per migration (docs/cluster.md,
# step 3), after the peer handshake and its Open. The source sends one
# ImageOffer frame (Cap'n Proto standard stream framing), then exactly `bytes`
# raw bytes of the image file; the target answers with one ImageReceived frame
# once the file is complete in its spool (or as soon as it refuses), and that
# is all: "restored" is told later, over the control connection (Ready).
# Only vprocd/transfer_wire.cc includes the generated header.
@0xf1e07c2e8935d280;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("vproc::transfer");

struct ImageOffer {
  migration @0 :UInt64;        # cluster-wide id of the migration (names the spool file)
  vpid @1 :UInt32;
  sourceNode @2 :UInt32;       # node index of the sender
  bytes @3 :UInt64;            # size of the image file that follows
  headPageHash @4 :UInt64;     # XXH3-64 of the file's first min(bytes, 4096) bytes
  stdioMask @5 :UInt8;         # bit N: the process's fd N (0-2) is forwarded to the home node
  parent @6 :UInt32;           # the process's parent vpid (its shadow's parent at home)
  uid @7 :UInt32;              # real uid/gid of the process: the restore runs as them
  gid @8 :UInt32;
  flags @9 :UInt32;            # the MigrateRequest's flags (2: files embedded)
}

struct ImageReceived {
  errno @0 :Int32;             # 0: the image is complete and its head page matches
  message @1 :Text;
  bytes @2 :UInt64;            # bytes stored before the answer
}
