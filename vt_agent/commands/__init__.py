"""The ``vt-agent`` subcommands, one module each (``register(subparsers)`` sets ``func``).

``eval_run`` and ``train_data`` add ``eval run|merge`` and ``train build|curate``;
``backend_args`` (the backend flags) and ``paths`` (output path checks) are shared by them. The
core packages never import this package; ``vt-agent-mcp``'s command line is ``mcp_server.cli``.
"""
