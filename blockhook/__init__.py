"""blockhook: watches blockchains for transfers and tells users through webhooks and Kafka."""

from core import __version__

__all__ = ["__version__"]
