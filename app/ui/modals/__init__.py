"""Modal screens: each returns its answer through `dismiss()`."""
