"""Development and test tooling: the local broker and the local stack supervisor."""
