"""The logspool program: CLI, config, sources, drain, sinks and status (DESIGN.md).

Nothing is re-exported here; the public surface of each part is its own package.
"""
__all__: list[str] = []
