"""Helpers more than one provider needs (content parts, error bodies, embeddings, reply fields); none registers anything."""
