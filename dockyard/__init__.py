"""dockyard: a container image registry that serves the reference registry's storage layout."""

__version__ = "0.1.0"
