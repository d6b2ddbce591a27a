"""The fingerprint of a label set: alerts are told apart by it (Alertmanager's `fingerprint`
field), and so are the series an anomaly rule watches."""

from __future__ import annotations

import hashlib
import json


def fingerprint(labels: dict[str, str]) -> str:
    """A stable short hash of the label set."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
