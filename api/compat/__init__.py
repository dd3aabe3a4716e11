"""Drop-in APIs of other code runners on our engine: Judge0 CE under /judge0 (judge0.py) and
Piston's v2 API under /api/v2 (piston.py). Each answers in its project's own shapes, errors
included, and maps onto our services: a submission is one of our executions (same log, same
projection, same admission), run in a one-off code session of its own."""
