"""One file per schema revision, written by hand and never changed once released."""
