"""The extract step of case (b) alone, in its own process: its peak RSS is extract's.

bench.run runs it on the benchmark zip and, with ``--rss-scaling``, on a zip with four
times the rows: a streaming extract keeps the same peak whatever the file's length.
"""

from __future__ import annotations

from bench.common import case_main
from bench.local_source import extract_only

if __name__ == "__main__":
    case_main(extract_only)
