"""The push pipeline rehearsed on one machine, and the stand-ins it (and the tests) use.

``make pipeline`` runs ``python -m rehearsal``; see ``rehearsal.pipeline`` for what stands
in for what.
"""
