"""Patterns: log lines grouped into templates with drain3 (`GET <*> 200 <*>`), with counts, first
and last seen, a sparkline, and whether a template is new since a given time.

Mining runs over a sample (the newest matching lines, `PATTERN_SAMPLE` by default), so counts
are those of the sample; the API says how many lines it looked at.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

from fullcycle.telemetry.log_queries import Window

PATTERN_SAMPLE = 5000
MAX_PATTERN_SAMPLE = 20000
SPARKLINE_BUCKETS = 24
# Masked before mining, so that ids and numbers never split one template into thousands.
MASKS = (
    (r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "UUID"),
    (r"\b[0-9a-fA-F]{16,}\b", "HEX"),
    (r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "IP"),
    (r"\b\d+(?:\.\d+)?(?:ms|s|us|µs|ns|KB|MB|GB|B)?\b", "NUM"),
)


@dataclass
class Pattern:
    template: str
    count: int
    first_seen_ns: int
    last_seen_ns: int
    example: str
    sparkline: list[int] = field(default_factory=lambda: [0] * SPARKLINE_BUCKETS)
    new: bool = True


def new_miner() -> TemplateMiner:
    config = TemplateMinerConfig()
    config.masking_instructions = [MaskingInstruction(pattern, name) for pattern, name in MASKS]
    config.mask_prefix, config.mask_suffix = "<", ">"
    config.drain_sim_th = 0.5
    config.drain_max_clusters = 2000
    config.parameter_extraction_cache_capacity = 0
    return TemplateMiner(config=config)


def mine_patterns(
    lines: list[tuple[int, str]],
    window: Window,
    earlier: list[tuple[int, str]] | None = None,
) -> list[Pattern]:
    """Templates of `lines` (timestamp ns, body), commonest first. A template is `new` when
    none of the `earlier` lines (before the "new since" time) fell into it; without `earlier`
    no template is marked new."""
    miner = new_miner()
    known: set[int] = set()
    for _, body in earlier or ():
        known.add(miner.add_log_message(body[:2000])["cluster_id"])
    patterns: dict[int, Pattern] = {}
    width = max(1, (window.end_ns - window.start_ns) // SPARKLINE_BUCKETS)
    for timestamp, body in sorted(lines):
        cluster = miner.add_log_message(body[:2000])["cluster_id"]
        pattern = patterns.get(cluster)
        if pattern is None:
            pattern = patterns[cluster] = Pattern("", 0, timestamp, timestamp, body)
        pattern.count += 1
        pattern.last_seen_ns = timestamp
        bucket = min(SPARKLINE_BUCKETS - 1, max(0, (timestamp - window.start_ns) // width))
        pattern.sparkline[bucket] += 1
    templates = {cluster.cluster_id: cluster.get_template() for cluster in miner.drain.clusters}
    for cluster_id, pattern in patterns.items():
        pattern.template = templates[cluster_id]
        pattern.new = earlier is not None and cluster_id not in known
    return sorted(patterns.values(), key=lambda pattern: (-pattern.count, pattern.template))
