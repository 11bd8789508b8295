"""Guards against hostile input and output: request paths, upstream replies, and secrets in errors and logs."""
