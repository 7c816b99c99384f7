"""Many hosts' traces at once: `w2a-tui fleet` (one table, one row per host, VM and vCPU).

- `table`: which traces a path holds, and one trace's rows (analysed through the cache);
- `run`: the traces on a Dask cluster (a local one of worker processes, or a scheduler's),
  with progress, into one Parquet table.
"""
