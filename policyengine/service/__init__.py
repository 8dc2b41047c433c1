"""Serving policies: live reloading, decision logs, and the HTTP decision service.

- :mod:`.live`: :class:`LivePolicies` (``policyengine.live``), an engine that follows its files and keeps the last
  good set;
- :mod:`.decisionlog`: :class:`DecisionLog`, one structured record per decision request, through stdlib logging;
- :mod:`.view` and :mod:`.reasons`: what is prepared per engine for presenting and logging its decisions;
- :mod:`.app`, :mod:`.api`, :mod:`.metrics`: the Starlette service of ``policyengine serve`` (the ``serve`` extra;
  imported only by the service itself, never by ``import policyengine``).
"""

from .decisionlog import LOGGER_NAME, DecisionLog, JsonLinesFormatter
from .live import LivePolicies, LiveStatus, LoadRecord, NotReady, Snapshot, live

__all__ = ["LOGGER_NAME", "DecisionLog", "JsonLinesFormatter", "LivePolicies", "LiveStatus", "LoadRecord", "NotReady",
           "Snapshot", "live"]
