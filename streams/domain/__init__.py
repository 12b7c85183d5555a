"""Domain logic of the stream workers: pure functions, no I/O (tested on their own)."""
