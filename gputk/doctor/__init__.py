"""`gputk doctor`: layer-by-layer checks with root causes and fixes (see docs/doctor.md)."""
