"""socialcredit: records in, identities resolved, a rulebook evaluated, lists and checks out."""

__version__ = "0.1.0"
