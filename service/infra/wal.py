"""WAL positions: where the primary is, what a standby has replayed, which cluster a server
belongs to (the read replicas' measures, service/infra/replicas.py)."""

from __future__ import annotations


def lsn(text: str) -> int:
    """A WAL position (pg_lsn's text, `16/B374D848`) as a number, to compare and subtract."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


# The primary's WAL position, as a number a standby's replayed position reaches once it has
# replayed everything inserted so far. pg_current_wal_insert_lsn() points past the header of a
# page (24 bytes) or segment (40) that no record has been written to yet, where no record can
# end: a standby that has replayed it all stops at the page's start.
WAL_POSITION = """
SELECT CASE WHEN w.at % w.block = 24 OR w.at % w.segment = 40 THEN w.at - w.at % w.block
            ELSE w.at END
  FROM (SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint AS at,
               current_setting('wal_block_size')::bigint AS block,
               pg_size_bytes(current_setting('wal_segment_size')) AS segment) w"""
# A standby's replayed position as a number; null on a server that is not a standby.
REPLAYED_POSITION = """
SELECT CASE WHEN pg_is_in_recovery()
            THEN (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint END"""
# Which cluster a server is: a standby has its primary's (initdb's) identifier.
SYSTEM_IDENTIFIER = "SELECT system_identifier FROM pg_control_system()"
