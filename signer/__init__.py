"""blockhook-signer: the custodian's own signing program for withdrawals.

It holds the seed (encrypted at rest), connects out to the platform, and signs only what its
journal and its local policy allow. It imports nothing of the platform's packages."""
