"""``python -m rehearsal``: the push pipeline rehearsed on this machine (``make pipeline``)."""

from rehearsal.pipeline import main

raise SystemExit(main())
