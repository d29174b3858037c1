"""hf-text-classification: a local Hugging Face sequence-classification checkpoint judged
on a CSV or TSV file of texts (or text pairs) and labels (docs/tasks.md)."""
