"""Files the agent delivers (``agent.artifact_delivered``), uploaded into the turn's Slack thread.

``ArtifactDelivery.deliver`` fetches the file from Qoder (a presigned link, fetched without credentials) and
shares it in the thread as a message of its own, titled with the file's original name. Each file is
delivered at most once per session: a claim in the store, taken before anything else, keeps a replayed event
(after a restart, a rejected cursor, another replica) from uploading it again. Whatever goes wrong — the
file cannot be downloaded, its link expired, it is over ``MAX_FILE_BYTES``, Slack refuses it — becomes one
short note in the thread naming the file and why, and a log line; ``deliver`` never raises.
"""

from __future__ import annotations

import logging
import time

from bot.models import ThreadKey
from bot.outbox import Outbox, SlackError
from bot.qoder import (
    ArtifactDelivered,
    DownloadError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    QoderClient,
    QoderError,
)
from bot.render import artifact_name, format_size, render_notice, upload_filename, upload_title
from bot.store import Store

log = logging.getLogger(__name__)

CLAIM_TTL_SECONDS = 30 * 24 * 3600.0  # longer than any session is followed


class Undeliverable(Exception):
    """The file cannot reach the thread; ``why`` completes "I couldn't deliver the file X: …"."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class ArtifactDelivery:
    """Delivers agent files into threads, for every turn of this process."""

    def __init__(self, qoder: QoderClient, store: Store, outbox: Outbox, *, max_bytes: int) -> None:
        self._qoder = qoder
        self._store = store
        self._outbox = outbox
        self._max_bytes = max_bytes

    async def deliver(self, session_id: str, thread: ThreadKey, event: ArtifactDelivered) -> None:
        """Upload the file of ``event`` into ``thread`` unless it was delivered (or tried) before."""
        key = event.file_id or event.id or ""
        name = artifact_name(event.filename)
        if key and not await self._store.claim_event(f"artifact:{session_id}:{key}", CLAIM_TTL_SECONDS):
            return
        started = time.monotonic()
        try:
            if not event.file_id:
                raise Undeliverable("Qoder did not say which file it is")
            content = await self._download(event)
            await self._outbox.workspace(thread.team).upload(
                thread.channel,
                thread.thread_ts,
                filename=upload_filename(event.filename),
                title=upload_title(event.filename),
                content=content,
            )
        except Undeliverable as problem:
            self._tell(thread, name, problem.why)
            log.warning("could not deliver file %s of session %s: %s", event.file_id, session_id, problem.why)
            return
        except SlackError as error:
            self._tell(thread, name, f"Slack refused the upload ({error.code or error.status})")
            log.warning("Slack refused file %s of session %s: %s", event.file_id, session_id, error)
            return
        except Exception:
            self._tell(thread, name, "something went wrong on my side")
            log.exception("could not deliver file %s of session %s", event.file_id, session_id)
            return
        log.info(
            "delivered file %s (%d bytes) in %.1fs", event.file_id, len(content), time.monotonic() - started
        )

    async def _download(self, event: ArtifactDelivered) -> bytes:
        too_big = Undeliverable(f"it is larger than {format_size(self._max_bytes)}, the most I pass on")
        if event.size is not None and event.size > self._max_bytes:
            raise too_big
        for attempt in range(2):  # a link that expired before it was used is asked for once more
            try:
                link = await self._qoder.file_download_url(event.file_id)
                return await self._qoder.download(link, max_bytes=self._max_bytes)
            except (PermissionDeniedError, InvalidRequestError):
                raise Undeliverable("Qoder does not let it be downloaded") from None
            except NotFoundError:
                raise Undeliverable("Qoder no longer has it") from None
            except QoderError as error:
                log.warning("no download link for file %s: %s", event.file_id, error)
                raise Undeliverable("Qoder did not give me a link to download it") from None
            except DownloadError as error:
                if error.problem == "too_big":
                    raise too_big from None
                if error.problem == "expired" and attempt == 0:
                    continue
                log.warning("download of file %s failed: %s", event.file_id, error)
                if error.problem == "expired":
                    raise Undeliverable("its download link expired") from None
                raise Undeliverable("it could not be downloaded from Qoder") from None
        raise AssertionError("unreachable")

    def _tell(self, thread: ThreadKey, name: str, why: str) -> None:
        async def index(ts: str) -> None:
            await self._store.index_message(thread.channel, ts, thread)

        note = render_notice(f":warning: I couldn't deliver the file {name}: {why}.")
        self._outbox.workspace(thread.team).notice(
            thread.channel, thread.thread_ts, note.payload(), on_posted=index
        )
