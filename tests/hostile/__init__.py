"""The hostile-input corpus: one parametrised table of attacks per surface (issue 9)."""
