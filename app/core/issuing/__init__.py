"""Issuing numbers, one module per job.

- `issuer.py`: the entry points (issue, issue a successor, reserve, confirm) and the road
  each request takes.
- `queue.py`: a sequenced scheme's requests queued per counter key and issued in groups
  (on `coalescing.py`).
- `group_store.py`: storing issued numbers with their refs, events and keys' answers.
- `sequences.py` and `counters.py`: sequence values, and the counter kept level with the
  store.
- `idempotency.py`: Idempotency-Keys, their claims and kept answers.
- `drawing.py`, `gapless.py`, `recycling.py`: drawn, gapless and recycled numbers.
- `requests.py` and `batches.py`: a queued request, and what it produced.
"""
