"""Simulated and recorded campaigns of the lab; each sub-package is one campaign."""
