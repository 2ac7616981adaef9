"""A trail you can prove: every audit event hangs off one hash chain, and a signed checkpoint
of its head shows later that nothing before it changed.

Two levels, so that issuing never waits for the chain:

- **In each write**, the events are hashed in order, each over its content and the
  hash of the one before (`app/store/chain.py`), and the write stores a block row
  (first and last event, how many, the last hash) in the same transaction. Nothing
  is shared between writes, so concurrent transactions, processes and replicas
  write as before; a group of ten thousand numbers adds one row.
- **Between writes**, the sealer (`seals.py`) links the blocks in the feed's order,
  (txid, first event): on PostgreSQL only blocks of transactions older than the
  oldest still running, which no later block can precede; on SQLite, whose single
  writer commits in id order, all. Each link covers the block and the link before
  it. The order is a fact of the data, not of who seals: every replica that seals
  computes the same positions and links, and a unique position settles a race.

`verification.py` reads the trail back (`custid check --audit`) and names the
first event or block that differs; `checkpoints.py` signs the sealed head with
an Ed25519 key and verifies such a checkpoint offline.
"""
