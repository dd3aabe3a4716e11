"""What the workers publish in Redis for the API: the languages they run (and their heartbeats)."""
