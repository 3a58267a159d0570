"""The reading wing: pure functions of stored run records. Nothing here imports torch or the measuring wing."""
