"""The nine cognitive systems: their state, update rules and formulas (digest §4.5), each to become its own plugin."""

# Not plugins yet, so no manifest says what they may import: the brain's features and the error
# classes live in the models plugin, which the systems that use them will require.
REQUIRES = ("models",)
