"""A Streamlit page without a browser, for load tests: ``Session`` speaks the websocket protocol as Chromium does
(recorded against Streamlit 1.67): the handshake, the ``rerun_script`` BackMsgs (page load; widget updates with
every widget's value and the widget's fragment id; ``run_every`` timers), a flat copy of the element tree (to find
widgets by key and read texts), file uploads and each action's latency (``runs``); ``app_ui.digit_png`` and
``app_ui.digit_raw`` are what the canvas component sends after a stroke. Unlike the browser it keeps no forward-message
cache, so the server never sends a reference: only messages of 10 KB or more would be (here the compare page's chart).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import secrets
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from benchmarks.app_ui import FABRIC

# What headless Chromium says about itself in every rerun_script (ClientState.context_info)
CONTEXT = {"timezone": "UTC", "timezone_offset": 0, "locale": "en-US", "is_embedded": False, "color_scheme": "light"}
# The widgets whose values are sent as the browser sends them; the server keeps the last value of any other
WIDGETS = ("slider", "checkbox", "radio", "selectbox")


@dataclass
class Run:
    """One action: seconds from sending it to the end of its script run, and what the server sent meanwhile
    (bytes per kind: an element type such as "metric", else "add_block", "new_session"...)."""

    action: str
    seconds: float = math.nan
    status: str = ""
    messages: int = 0
    bytes: int = 0
    bytes_by_kind: Counter[str] = field(default_factory=Counter)


class Node(NamedTuple):
    proto: Any  # an Element or a Block
    fragment_id: str
    run_id: str  # the run that last sent it: when a run ends the browser drops what the run did not send again
    is_block: bool


def _xsrf_cookie(base_url: str) -> str:
    # The browser pings /_stcore/health before it connects; the reply sets the cookie it then presents
    with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=60) as r:
        cookies = (c.split(";")[0].partition("=") for c in r.headers.get_all("Set-Cookie") or [])
        return next((value for name, _, value in cookies if name == "_streamlit_xsrf"), "")


def _widget_id(el: Any) -> str:  # "$$ID-<hash>-<user key>"; other elements may have ids of another form
    wid = getattr(getattr(el, el.WhichOneof("type") or "", None), "id", "")
    return wid if isinstance(wid, str) and wid.startswith("$$ID-") else ""


def _initial_state(el: Any) -> WidgetState | None:
    """What the browser registers for a widget as it mounts: the value the server set, else the proto's default
    (read only then); for a radio or selectbox the option's text, with no choice the id alone."""
    if (kind := el.WhichOneof("type")) not in WIDGETS:
        return None  # a button holds no value, the canvas none until a stroke
    w = getattr(el, kind)
    state = WidgetState(id=w.id)
    if kind == "slider":
        state.double_array_value.data.extend(w.value if w.set_value else w.default)
    elif kind == "checkbox":  # toggles too
        state.bool_value = w.value if w.set_value else w.default
    elif w.set_value or w.HasField("default"):
        state.string_value = w.raw_value if w.set_value else w.options[w.default]
    return state


class Session:
    """One visitor's tab: ``async with Session(url, page) as s`` loads ``page`` (a URL path such as "pets"; ""
    is the default page) and returns once its first script run is over. One action at a time."""

    def __init__(self, base_url: str, page: str = "", timeout_s: float = 120.0) -> None:
        self.base_url, self.page, self.timeout_s = base_url.rstrip("/"), page, timeout_s
        self.tree: dict[tuple[int, ...], Node] = {}  # delta path -> what the page shows there
        self.runs: list[Run] = []
        self.page_script_hash = self.query_string = ""  # sent back with every rerun, as the browser does
        self.session_id = self._cookie = ""  # the server's name for this session (uploads go to it); XSRF cookie
        self._file_urls: dict[str, asyncio.Future[Any]] = {}  # upload URL requests waiting for their answer
        self._pages: dict[str, str] = {}  # URL path -> page script hash, from the server's navigation message
        self._values: dict[str, WidgetState] = {}  # widget id -> its value in the browser
        self._run_id, self._started = "", False  # _started: see _handle
        self._run: Run | None = None  # the pending action, and its end
        self._done: asyncio.Future[None] | None = None
        self._timers: dict[str, asyncio.Task[None]] = {}  # fragment id -> its run_every timer

    async def __aenter__(self) -> Session:
        url = urlsplit(self.base_url)
        self._cookie = cookie = await asyncio.to_thread(_xsrf_cookie, self.base_url)
        self._ws = await websockets.connect(
            f"{'wss' if url.scheme == 'https' else 'ws'}://{url.netloc}{url.path}/_stcore/stream",
            subprotocols=["streamlit", cookie or "PLACEHOLDER_AUTH_TOKEN"],  # what the browser offers
            origin=f"{url.scheme}://{url.netloc}",
            additional_headers={"Cookie": f"_streamlit_xsrf={cookie}"} if cookie else None,
            max_size=None,  # the server allows up to server.maxMessageSize (200 MB), far above the default 1 MB
        )
        self._reader = asyncio.create_task(self._read())
        try:
            await self._request("load", page_name=self.page)
        except BaseException:
            await self.__aexit__()  # a load that failed (a timeout under load, say) leaves no socket behind
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop_timers(list(self._timers))
        await self._ws.close()
        await self._reader

    async def draw(self, png: bytes = b"", raw: dict[str, Any] | None = None, value: str = "") -> dict[str, str]:
        """Send the canvas's state after a stroke as the browser does on mouse-up (``png``: the whole canvas;
        ``raw``: fabric.js's scene, default empty; or ``value``, the whole state as JSON text, whatever it is)
        and return the answers: {metric label: metric body}."""
        drawing = {"raw": raw or {"version": FABRIC, "objects": [], "background": "#000000"},
                   "data": "data:image/png;base64," + base64.b64encode(png).decode()}  # fmt: skip
        state = WidgetState(json_value=value or json.dumps({"drawing": drawing}, separators=(",", ":")))
        await self._set(self._widget(lambda key: key.startswith("canvas_") and key[7:].isdigit()), state, "draw")
        return self.metrics()

    async def set_widget(self, key: str, value: Any) -> Run:
        """Set the widget with user key ``key`` and rerun what the browser reruns: a toggle or checkbox takes a
        bool, a slider a number (or a list), a radio or selectbox the option's text; any value presses a button."""
        node = self._widget(lambda k: k == key)
        kind, state = node.proto.WhichOneof("type"), WidgetState()
        if kind == "button":
            state.trigger_value = True  # sent once, then forgotten (see _request)
        elif kind == "slider":
            state.double_array_value.data.extend(value if isinstance(value, (list, tuple)) else [value])
        else:
            field_ = {bool: "bool_value", str: "string_value", int: "int_value", float: "double_value"}[type(value)]
            setattr(state, field_, value)
        return await self._set(node, state, f"set {key}")

    async def upload(self, key: str, name: str, data: bytes, mime: str = "image/jpeg") -> Run:
        """Upload one file to the file uploader with user key ``key`` as the browser does: ask the server for
        an upload URL over the websocket, PUT the file there (multipart, with the XSRF header), then rerun."""
        node, request = self._widget(lambda k: k == key), BackMsg()
        request.file_urls_request.request_id = request_id = secrets.token_hex(8)
        request.file_urls_request.file_names.append(name)
        request.file_urls_request.session_id = self.session_id
        self._file_urls[request_id] = answer = asyncio.get_running_loop().create_future()
        await self._ws.send(request.SerializeToString())
        urls = (await asyncio.wait_for(answer, self.timeout_s)).file_urls[0]
        await asyncio.to_thread(self._put, urls.upload_url, name, data, mime)
        state = WidgetState()
        info = state.file_uploader_state_value.uploaded_file_info.add(name=name, size=len(data), file_id=urls.file_id)
        info.file_urls.CopyFrom(urls)
        return await self._set(node, state, f"upload {name}")

    def _put(self, url: str, name: str, data: bytes, mime: str) -> None:
        boundary = secrets.token_hex(16)
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
                f"Content-Type: {mime}\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": self._cookie,
                   "Cookie": f"_streamlit_xsrf={self._cookie}"}
        full = url if url.startswith("http") else self.base_url + url
        with urllib.request.urlopen(urllib.request.Request(full, body, headers, method="PUT"), timeout=60) as r:
            r.read()

    async def go_to(self, page: str) -> Run:
        """Follow the sidebar's link to another page (its URL path, e.g. "pets"; "" the default), same session."""
        self.page_script_hash, self.page = self._pages[page], page
        return await self._request(f"go to {page or 'the default page'}")

    async def rerun(self) -> Run:
        """Rerun the whole page, as the menu's "Rerun" does."""
        return await self._request("rerun")

    async def send(self, msg: BackMsg) -> None:
        """Send one BackMsg as it is, waiting for nothing: what a hostile client may send."""
        await self._ws.send(msg.SerializeToString())

    def elements(self, kind: str) -> list[Any]:
        """The page's elements of one type ("metric", "markdown", "exception", "alert"...), in page order."""
        return [getattr(n.proto, kind) for _, n in sorted(self.tree.items())
                if not n.is_block and n.proto.WhichOneof("type") == kind]  # fmt: skip

    def metrics(self) -> dict[str, str]:  # {label: value} of the page's metrics (the models' answers)
        return {m.label: m.body for m in self.elements("metric")}

    def _widget(self, key_matches: Callable[[str], bool]) -> Node:
        for node in self.tree.values():  # blocks too: an expander or tabs that rerun on change are widgets
            if (wid := _widget_id(node.proto)) and key_matches(wid.split("-", 2)[2]):
                return node
        raise KeyError("no such widget on the page")

    async def _set(self, node: Node, state: WidgetState, action: str) -> Run:
        state.id = _widget_id(node.proto)
        self._values[state.id] = state
        return await self._request(action, fragment_id=node.fragment_id)  # the widget's fragment, if any, reruns

    async def _request(self, action: str, fragment_id: str = "", page_name: str = "", auto: bool = False) -> Run:
        msg = BackMsg()
        rerun = msg.rerun_script
        rerun.query_string, rerun.page_script_hash = self.query_string, self.page_script_hash
        rerun.page_name, rerun.fragment_id, rerun.is_auto_rerun = page_name, fragment_id, auto
        rerun.context_info.MergeFrom(type(rerun.context_info)(url=f"{self.base_url}/{self.page}", **CONTEXT))
        ids = dict.fromkeys(_widget_id(n.proto) for n in self.tree.values())
        rerun.widget_states.widgets.extend(self._values[w] for w in ids if w in self._values)  # every live widget
        self._values = {w: s for w, s in self._values.items() if not s.HasField("trigger_value")}
        if auto:  # a run_every timer's rerun: the browser waits for nothing
            await self._ws.send(msg.SerializeToString())
            return Run(action)
        run, start = Run(action), time.perf_counter()
        self._run, self._done, self._started = run, asyncio.get_running_loop().create_future(), False
        await self._ws.send(msg.SerializeToString())
        try:
            await asyncio.wait_for(self._done, self.timeout_s)
        except TimeoutError:
            raise TimeoutError(f"{action}: the script run did not end within {self.timeout_s:.0f} s") from None
        finally:
            self._run = None  # what arrives between actions (a run_every run) counts for none
        run.seconds = time.perf_counter() - start
        self.runs.append(run)
        return run

    async def _read(self) -> None:
        try:
            async for data in self._ws:
                self._handle(data if isinstance(data, bytes) else data.encode())
            error: BaseException = ConnectionError("the server closed the websocket")
        except Exception as e:  # noqa: BLE001 - handed to the waiting action rather than lost with this task
            error = e
        if self._done is not None and not self._done.done():
            self._done.set_exception(error)

    def _handle(self, data: bytes) -> None:
        msg = ForwardMsg.FromString(data)
        kind, delta = msg.WhichOneof("type"), msg.delta.WhichOneof("type")
        if self._run is not None:
            self._run.messages, self._run.bytes = self._run.messages + 1, self._run.bytes + len(data)
            element = msg.delta.new_element.WhichOneof("type") if delta == "new_element" else None
            self._run.bytes_by_kind[element or delta or kind or ""] += len(data)
        if kind == "file_urls_response" and (wait := self._file_urls.pop(msg.file_urls_response.response_id, None)):
            wait.set_result(msg.file_urls_response)
        elif kind == "new_session":  # a script run begins: the pending action's, if sent before
            self.session_id = msg.new_session.initialize.session_id or self.session_id
            self._run_id, self._started = msg.metadata.run.script_run_id, True
            if not msg.metadata.run.fragment_ids:  # a full run: the browser stops every run_every timer
                self._stop_timers(list(self._timers))
            self.page_script_hash = msg.new_session.page_script_hash
        elif kind == "navigation":  # the page shown, named in every rerun after this; the pages, by URL path
            self.page_script_hash = msg.navigation.page_script_hash
            self._pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "delta" and delta in ("new_element", "add_block"):
            proto = getattr(msg.delta, delta)
            node = Node(proto, msg.delta.fragment_id, self._run_id, delta == "add_block")
            self.tree[tuple(msg.metadata.delta_path)] = node
            # A widget keeps its value from mounting until the visitor changes it or the server sets one
            state = None if node.is_block else _initial_state(proto)
            if state and (state.id not in self._values or getattr(proto, proto.WhichOneof("type")).set_value):
                self._values[state.id] = state
        elif kind == "auto_rerun" and msg.auto_rerun.fragment_id not in self._timers:
            self._timers[msg.auto_rerun.fragment_id] = asyncio.create_task(self._every(msg.auto_rerun))
        elif kind == "stop_auto_rerun":
            self._stop_timers(msg.stop_auto_rerun.fragment_ids)
        elif kind == "script_finished" and msg.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
            self._finish(msg.metadata.run.script_run_id or self._run_id, set(msg.metadata.run.fragment_ids))
            if self._done is not None and self._started and not self._done.done() and self._run is not None:
                self._run.status = ForwardMsg.ScriptFinishedStatus.Name(msg.script_finished)
                self._done.set_result(None)

    def _finish(self, run_id: str, fids: set[str]) -> None:
        # As the browser does when a run ends: drop what the run did not send again (a fragment's run: only in
        # the fragment's containers) and forget the values of widgets gone
        old = [p for p, n in self.tree.items() if n.run_id != run_id]
        if fids:
            roots = {p for p, n in self.tree.items() if n.is_block and n.run_id == run_id and n.fragment_id in fids}
            old = [p for p in old if any(p[:i] in roots for i in range(1, len(p)))]
        for path in old:
            del self.tree[path]
        live = {_widget_id(n.proto) for n in self.tree.values()}
        self._values = {w: s for w, s in self._values.items() if w in live}

    def _stop_timers(self, fragment_ids: Any) -> None:
        for task in [self._timers.pop(f) for f in fragment_ids if f in self._timers]:
            task.cancel()

    async def _every(self, auto: Any) -> None:
        while True:  # st.fragment(run_every=...): the browser reruns the fragment on a timer
            await asyncio.sleep(auto.interval)
            await self._request("run_every", fragment_id=auto.fragment_id, auto=True)
