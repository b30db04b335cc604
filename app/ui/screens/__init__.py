"""One screen per file; each `.tcss` sits beside its screen."""
