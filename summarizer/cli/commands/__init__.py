"""One module per CLI command; see `summarizer.cli.main`."""
