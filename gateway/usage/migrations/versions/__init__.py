"""Record, schema: one revision of the request log per file, `NNNN_<what it does>.py`."""
