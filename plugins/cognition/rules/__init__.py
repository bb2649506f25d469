"""The nine systems' state, update rules and formulas (digest §4.5): pure code, no I/O, no clock."""
