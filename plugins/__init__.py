"""Built-in plugins; each is an ordinary plugin found through the `colony` entry-point group."""
