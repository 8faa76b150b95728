"""What the destination gets beside the loaded tables, and how it is loaded.

``views`` (SQL views), ``column_comments`` (column descriptions), ``lean_defaults``
(bounded-memory load settings), ``lakehouse`` (a Delta lakehouse that merges).
"""
