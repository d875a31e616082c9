"""Development tools of the inference.triton collection (never imported by the collection itself)."""
