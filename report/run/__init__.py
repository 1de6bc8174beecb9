"""Running the report's sections on a loaded model: pipeline, context, cache, background pair pass."""
