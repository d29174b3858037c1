"""MiniLM (all-MiniLM-L6-v2) fine-tuned on GLUE MRPC paraphrase detection."""
