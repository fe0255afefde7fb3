"""Access to chains: the batched JSON-RPC client with fail-over."""
