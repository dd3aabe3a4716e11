"""Pure-logic tests of the sandbox package (no bubblewrap)."""
