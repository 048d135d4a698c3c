"""Exceptions. Only configuration, usage and I/O problems raise; a statement that
cannot be resolved becomes a Diagnostic instead."""


class S3LineageError(Exception):
    """Base class; the CLI maps it to exit code 2 with its message, no traceback."""


class ConfigError(S3LineageError):
    """lineage.toml is invalid: the message names the key or path."""


class InputError(S3LineageError):
    """An input file is missing or unreadable: the message names the file."""


class CatalogueError(S3LineageError):
    """An idiom file under parsers/ is malformed: the message names the file."""
