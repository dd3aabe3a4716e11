"""The callback deliverer: POSTs each ended execution's result to the URL its run named.

A consumer of the event log of its own (`python -m callbacks`, consumer group `runbox-callbacks`):
it reads the terminal events (RunFinished, RunRejected, DeadLettered) from executions.events, so a
slow or dead receiver never slows a run, and records every attempt as a CallbackAttempted event.
"""
