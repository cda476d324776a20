"""Built-in evaluation: answer and retrieval quality on a question set."""
