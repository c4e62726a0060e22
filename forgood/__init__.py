"""forgood's shared domain: event schema, campaign model and rules, money, settings, errors.

Imported by ``producers``, ``streams`` and ``sinks`` alike; imports none of them.
"""

__version__ = "0.1.0"
