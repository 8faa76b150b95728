"""One pipeline run among many: its plan, repairs, load path, lock, and the dry run.

``plan`` (new windows, lookback, repairs, each table's disposition), ``repair`` (windows a
killed load left with duplicates), ``load_path`` (append or merge per table), ``lock`` (one
run at a time per pipeline), ``dry_run`` (``plan_load``: what a load would export).
"""
