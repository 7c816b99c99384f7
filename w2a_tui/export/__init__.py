"""Export formats beyond CSV/JSON and the selection they apply to.

- `select`: `--from/--to/--vm/--vcpu/--state`, applied to an analysis result (time clipping,
  VM and vCPU choice) and to its rows (states);
- `columns`: the contract's columns as numpy arrays (Parquet is built from them);
- `perfetto`: Chrome Trace Event JSON that Perfetto UI and chrome://tracing open;
- `parquet`: typed Parquet (pyarrow, the optional `w2a-tui[parquet]` extra).

Nothing here imports Textual; the TUI calls `perfetto.export_selection`.
"""
