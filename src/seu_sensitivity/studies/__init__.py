"""Studies: analyses assembled from the model and inference layers."""
