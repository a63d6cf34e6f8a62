"""The command line: the only package that imports typer.

Each module registers one command (or one sub-app) on the root app. A command
is a thin adapter: parse options, call one service, render the result, return
an exit code. Services are imported inside the command functions so that
``gputk --help`` stays fast and imports no numpy, numba, pynvml or jinja2.
"""
