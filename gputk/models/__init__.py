"""Plain data: frozen dataclasses shared between layers.

One module per area keeps them small: ``core`` (commands, platform),
and one module per feature (``gpu``, ``doctor``, ``env``, ``demo`` ...).
Models depend on nothing but the standard library.
"""
