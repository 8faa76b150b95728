"""Benchmarks of coveo_ua_source: ``make bench`` runs ``python -m bench.run --rows N``.

``bench.run`` generates one synthetic export zip with the simulator's generator, then runs
each case in its own process (``python -m bench.<case> SPEC.json RESULT.json``), so that the
peak RSS measured for a case is that case's alone:

- ``http_source`` (a): the real source over HTTP against a simulator process;
- ``local_source`` (b): the real source reading the local zip, its client faked (no HTTP);
- ``duckdb_baseline`` (c): DuckDB ``CREATE TABLE AS SELECT * FROM read_csv(...)``;
- ``dict_rows`` (d): csv.DictReader rows through a dlt resource, on a fraction of the rows;
- ``backfill`` (e): many small windows against a simulator with a build delay;
- ``extract_rss``: the extract step of (b) alone, for its peak RSS;
- ``daily`` (``--daily``): one day of 200k searches loaded by ``pipeline.run`` as a user
  runs it, stage by stage (``stages``), against (c) on the same CSVs, runs interleaved,
  its rows checked against the ground truth (``truth_check``).

The data has 1 in 1,000 custom dimension values that do not parse (``--bad-dimension-rate``);
``--high-rate`` also runs (b) on the same rows at the simulator's default, about 1 in 5.

Results are printed as a table and written to ``bench/out/results.json``. A case's peak
RSS is its own high-water mark (``VmHWM``), which it reads as it ends.
"""
