"""Analyses that combine runs: supervision complexity along trajectories, claim verdicts."""
