"""The nine cognitive systems (and the colony-level quantities), each its own plugin; their pure rules live in `rules`."""

# The boundary test reads this: the modules here are plugins of their own, but share one package,
# and the brain and autonomy use the models plugin's features, error classes and networks.
REQUIRES = ("models",)
