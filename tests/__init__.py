"""w2a-tui's test suite: a package, so that tests import their helpers from `tests.support`."""
