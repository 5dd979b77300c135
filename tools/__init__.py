"""Operator and developer tools: run the platform, generate docs, simulate, benchmark."""
