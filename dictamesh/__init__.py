"""DictaMesh core library: framework-level building blocks shared by every app.

Nothing in this package imports from ``apps/``; apps build on it, never the reverse.
"""
