"""The offline engine: Baton's embedded default, on moto, in one process."""
