"""A real HTTP fake of the Qoder Managed Cloud Agents API, served by aiohttp on 127.0.0.1.

It speaks the current ("N era") wire format from ``qoder-api.md`` for the calls the bot makes: create,
get, archive and cancel a session (S1, S2, S6, S8), send / list / stream events (E1-E3) and ``GET /models``,
with the error envelope, idempotency keys, tail-only SSE connects, ``Last-Event-ID`` resume with the three
in-progress-preview cases, per-connection ``event_deltas[]`` previews and ``: heartbeat`` comments; and
outcomes (``user.define_outcome``, ``initial_events``, the ``span.outcome_evaluation_*`` events).

Agent turns are scripted with small step objects (:class:`Text`, :class:`Tool`, :class:`Hold`, ...);
:class:`Grade` plays an outcome evaluation.

Modules: ``session`` (a session's state and frame log), ``script`` (the steps and the player that runs
them), ``outcome`` (outcomes and their grading), ``middleware`` (recording, injected faults, auth,
idempotent replay), ``routes`` (the HTTP calls), ``sse`` (the event stream), ``server`` (``FakeQoder``,
which puts them together). The undocumented choices each makes are stated in its docstring.
"""

from tests.fakes.qoder_api.outcome import Grade
from tests.fakes.qoder_api.script import CustomTool, End, Error, Hold, Sleep, Text, Thinking, Tool
from tests.fakes.qoder_api.server import FakeQoder

__all__ = ["CustomTool", "End", "Error", "FakeQoder", "Grade", "Hold", "Sleep", "Text", "Thinking", "Tool"]
