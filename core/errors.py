"""One exception base with specific subclasses."""

from __future__ import annotations


class BlockhookError(Exception):
    """Base of every error blockhook raises on purpose."""


class ConfigError(BlockhookError):
    """Settings are missing or wrong."""


class RpcError(BlockhookError):
    """A JSON-RPC node failed, timed out or answered something unusable."""


class DecodeError(BlockhookError):
    """Chain data could not be normalised."""


class ApiError(BlockhookError):
    """A client error, answered as a 4xx with the contract's error shape."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
