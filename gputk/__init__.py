"""gputk: set up, diagnose and exercise GPU machines for deep-learning work."""

__version__ = "0.1.0"
