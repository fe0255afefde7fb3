"""blockhook: watches blockchains for transfers and tells users through webhooks and Kafka."""

__version__ = "0.1.0"
