"""What docs/interface.md ("Events") fixes about events, for the tests that check it."""

# The fields of an event, in the contract's order.
CONTRACT_EVENT_FIELDS = [
    "id",
    "type",
    "monitor_id",
    "chain",
    "chain_id",
    "tx_hash",
    "log_index",
    "block_number",
    "block_hash",
    "from",
    "to",
    "direction",
    "asset",
    "amount",
    "confirmations",
    "required_confirmations",
    "credited",
    "wallet_id",
    "user_ref",
    "occurred_at",
]
