"""The seed's sequential example: a compliance review, from extracting a document to publishing its report."""
