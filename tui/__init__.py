"""The Textual operator UI (a client of the control protocol)."""
