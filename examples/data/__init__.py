"""Input files of the example pipelines, and the generator of the sales CSV."""
