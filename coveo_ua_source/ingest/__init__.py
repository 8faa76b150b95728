"""From a downloaded export zip to typed Arrow batches and bookkeeping rows. No network I/O.

``archive`` (the zip and its members), ``member`` (one CSV member to record batches),
``batch_conversion`` (one parsed batch to the output types, and the rows to reject),
``csv_text`` (bytes, dialects, values, line numbers), ``read_ahead`` (how far pyarrow's
reader reads ahead of the batches taken), ``csv_records`` (record splitting for
rows pyarrow cannot take), ``headers`` (CSV headers to output columns), ``custom_dimensions``
and ``dimension_catalog`` (typed ``c_*`` columns and rejected values), ``bookkeeping`` (what
each window loaded, rejected rows).
"""
