"""The ``coveo-ua`` command. Modules import lazily so that ``coveo-ua --help`` stays fast.

``main`` (the parser), ``commands`` (what each command does), ``config`` (one configuration
path for every command), ``pipeline`` (the pipeline the CLI loads into), ``exports``
(``coveo-ua exports``), ``plan_report`` and ``progress`` (terminal output), ``dimensions``
(``coveo-ua dimensions``), ``demo`` (``coveo-ua demo``).
"""
