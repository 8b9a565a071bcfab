"""The "Train your own network" page: a visitor sets up a NumPy MLP, trains it live on the server and takes it
to the draw page ("Your MLP") or home as a checkpoint. The training itself lives in app/logic/live_run.py
(the server-wide queue in app/logic/training_queue.py).

The run is kept in this session's ``st.session_state``, so it lasts as long as the visitor's session; the
server-wide queue only knows runs that are waiting or training. While a run is active, a fragment polls its
snapshot once a second (which is also the run's heartbeat); when the run ends, the fragment reruns the page.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence

import pandas as pd
import streamlit as st

from app.logic.charts import history_chart
from app.logic.live_run import LiveRun, Snapshot
from app.logic.live_setup import TrainingSettings, describe_data, parse_hidden
from app.logic.training_queue import AlreadyTraining, training_queue
from app.logic.weights import weight_images
from app.shared import PREVIOUS_KEY, RUN_KEY, your_mlp
from models.datasets import resolve_data_dir

VISITOR_KEY, NOTICE_KEY = "live_visitor", "live_notice"
DEFAULTS = TrainingSettings()


def _session_alive() -> Callable[[], bool] | None:
    """A check that this browser session is still connected, or None outside a Streamlit server (AppTest)."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists():
        return None
    server, session = runtime.get_instance(), ctx.session_id
    return lambda: server.is_active_session(session)


def _start() -> None:
    """Start button: check the settings and queue a run (callbacks run before the page is drawn, so the
    buttons below already show the new state)."""
    ss = st.session_state
    try:
        settings = TrainingSettings(parse_hidden(ss["train_hidden"]), float(ss["train_lr"]), int(ss["train_batch"]),
                                    int(ss["train_epochs"]), float(ss["train_l2"]), float(ss["train_dropout"]))
    except ValueError as e:
        ss[NOTICE_KEY] = str(e)
        return
    previous = your_mlp()
    try:
        run = training_queue().submit(ss.setdefault(VISITOR_KEY, uuid.uuid4().hex), settings, alive=_session_alive())
    except AlreadyTraining as e:
        ss[NOTICE_KEY] = str(e)
        return
    ss[PREVIOUS_KEY], ss[RUN_KEY] = previous, run


def _stop() -> None:
    run: LiveRun | None = st.session_state.get(RUN_KEY)
    if run is not None:
        run.stop()
        run.wait(timeout=2.0)  # it stops after the current mini-batch: show the final state on this rerun


def _controls(active: bool) -> None:
    st.text_input("Hidden layers", ", ".join(map(str, DEFAULTS.hidden)), key="train_hidden",
                  help="Units in each hidden layer, separated by commas: 1 to 4 layers of 1 to 2,048 units.")
    left, right = st.columns(2)
    left.number_input("Learning rate", value=DEFAULTS.lr, step=0.001, format="%.4f", key="train_lr",
                      help="Adam's step size, decayed to 0 along a cosine. Above 0, at most 1.")
    right.number_input("Batch size", value=DEFAULTS.batch_size, step=32, key="train_batch",
                       help="Digits per gradient step, 1 to 4,096.")
    left.number_input("Epochs", value=DEFAULTS.epochs, step=1, key="train_epochs",
                      help="Passes over the training digits, 1 to 50.")
    right.number_input("L2", value=DEFAULTS.l2, step=0.0001, format="%.4f", key="train_l2",
                       help="Weight decay: a penalty on large weights, 0 or more.")
    left.number_input("Dropout", value=DEFAULTS.dropout, step=0.05, format="%.2f", key="train_dropout",
                      help="Share of hidden units switched off at random in each step, from 0 to below 1.")
    start, stop = st.columns(2)
    start.button("Start", key="train_start", type="primary", icon=":material/play_arrow:", on_click=_start,
                 disabled=active, width="stretch")
    stop.button("Stop", key="train_stop", icon=":material/stop:", on_click=_stop, disabled=not active,
                width="stretch")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.error(notice, icon=":material/block:")
    running, waiting = training_queue().counts()
    st.caption(f"Server: {running} of {training_queue().capacity} training slots busy, {waiting} waiting.")


def history_frame(rows: Sequence[dict[str, float]]) -> pd.DataFrame:
    """Snapshot history -> the long data ``history_chart`` draws (epoch, metric, split, value)."""
    return pd.DataFrame([
        {"epoch": row["epoch"], "metric": "accuracy" if metric == "acc" else "loss",
         "split": "training" if split == "train" else "validation", "value": row[f"{split}_{metric}"]}
        for row in rows for split in ("train", "val") for metric in ("loss", "acc") if f"{split}_{metric}" in row
    ])


def _status(snap: Snapshot, epochs: int) -> None:
    if snap.state == "queued":
        st.info(snap.message or "Waiting for a free slot…", icon=":material/hourglass_top:")
    elif snap.state == "running":
        done = sum("val_acc" in row for row in snap.history)
        st.progress(snap.progress, text=f"{snap.message} Epoch {min(done + 1, epochs)} of {epochs}, "
                                        f"{snap.elapsed_s:.0f} s")
    elif snap.state == "failed":
        st.error(snap.message, icon=":material/error:")
    else:
        st.success(f"{snap.message} {snap.elapsed_s:.1f} s of training.", icon=":material/check_circle:")


def _result(run: LiveRun, snap: Snapshot) -> None:
    clf = run.classifier()
    if clf is None or snap.test is None:
        return
    st.metric("Test accuracy", f"{snap.test['acc']:.2%}", help=f"On {clf.meta['metrics']['test_set']}.")
    st.caption(f"Measured on {clf.meta['metrics']['test_set']}. **Your MLP** now reads your digits on the "
               "*Draw a digit* page, next to the other networks.")
    st.download_button("Download the checkpoint", run.checkpoint_bytes, file_name="your_mlp.safetensors",
                       mime="application/octet-stream", key="train_download", icon=":material/download:",
                       help="The project's checkpoint format: `models.load_classifier('your_mlp.safetensors')` "
                            "opens it.")


def _live_view(polling: bool) -> None:
    """What the run is doing; redrawn once a second while ``polling``."""
    run: LiveRun | None = st.session_state.get(RUN_KEY)
    if run is None:
        st.info("Choose the settings and press **Start**: the curves and the weights appear here as it learns.",
                icon=":material/model_training:")
        return
    run.touch()
    snap = run.snapshot()
    if polling and not snap.active:
        st.rerun()  # the whole page: the buttons change and the result appears
    _status(snap, run.settings.epochs)
    _result(run, snap)
    if snap.history:
        frame = history_frame(snap.history)
        left, right = st.columns(2)
        left.altair_chart(history_chart(frame, "loss", "Loss"), key="train_loss_chart")
        right.altair_chart(history_chart(frame, "accuracy", "Accuracy"), key="train_acc_chart")
    if snap.weights is not None:
        st.markdown(f"**First layer** · {len(snap.weights)} of {run.settings.hidden[0]} hidden units")
        st.image(weight_images(snap.weights, len(snap.weights)), width=56)
        st.caption("Each square is one hidden unit's weights over the 28 × 28 pixels (red: ink here excites it, "
                   "blue: it inhibits it). They start as noise and turn into stroke detectors.")


def render() -> None:
    st.title("Train your own network")
    st.caption(f"Build a multilayer perceptron and watch it learn to read digits from "
               f"{describe_data(resolve_data_dir())}. It is the app's from-scratch NumPy MLP (hand-written "
               "backpropagation and Adam), training on this server's CPU; the defaults take a few seconds.")
    run: LiveRun | None = st.session_state.get(RUN_KEY)
    active = run is not None and run.snapshot().active
    left, right = st.columns([1, 2], gap="large")
    with left:
        _controls(active)
    with right:
        st.fragment(_live_view, run_every=1.0 if active else None)(active)
