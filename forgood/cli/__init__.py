"""Operating forgood: the ``forgood`` command line, the local stack's use, the demo."""
