"""Developer tools that run the pipeline from outside (chaos)."""
