"""Generation: what the retrieved chunks say, as a cited answer from an OpenAI-compatible model."""
