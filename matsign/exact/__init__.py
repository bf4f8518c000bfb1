"""Exact and iterative matrix sign: SVD/eigh polar factor, Newton–Schulz and its schedules."""
