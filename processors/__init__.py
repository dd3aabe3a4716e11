"""Faust stream processors: the safety agent, the executor agents, the retry agent, heartbeats."""
