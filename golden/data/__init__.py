"""Networks to run: the digits MLP and CNN, trained and compressed
(:mod:`.digits`, ``python -m golden.digits``), and random networks for tests and
benchmarks (:mod:`.synthetic`)."""
