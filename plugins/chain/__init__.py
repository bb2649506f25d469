"""Chain plugin: the Vyper contracts (stablecoin, ERC-8004 registries) and their compiled artifacts."""
