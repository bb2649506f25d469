"""The nine cognitive systems: their state, update rules and formulas (digest §4.5), each to become its own plugin."""
