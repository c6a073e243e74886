"""The alert chart: a compact PNG, one panel per top metric, quick to draw."""

from __future__ import annotations

import io
import time
from dataclasses import replace

import matplotlib.image as mpimg
import pandas as pd

from handlers.charts import MAX_PANELS, alert_chart, alert_figure, chart_metrics
from tests.handlers.test_alertbook import detection

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_chart_is_a_png_of_about_800_by_500() -> None:
    png = alert_chart(detection(0))
    assert png.startswith(PNG_SIGNATURE)
    image = mpimg.imread(io.BytesIO(png), format="png")
    height, width = image.shape[:2]
    assert (width, height) == (800, 500)
    assert image[..., :3].std() > 0.05  # something is drawn


def test_one_panel_per_top_metric_at_most_three() -> None:
    for count in (1, 3, 4):
        figure = alert_figure(detection(0, metrics=count))
        assert len(figure.axes) == min(count, MAX_PANELS)
    figure = alert_figure(detection(0))
    assert [ax.get_title(loc="left") for ax in figure.axes] == [
        "memory_usage (%)",
        "java_gc_time (%)",
        "cpu_usage (%)",
    ]
    assert figure.texts[0].get_text() == "payments/payments-2: memory_leak"  # the suptitle


def test_band_and_anomalous_window_are_shaded() -> None:
    axis = alert_figure(detection(0, metrics=1)).axes[0]
    # the normal band (fill_between) and the anomalous window (axvspan)
    assert len(axis.collections) == 1 and len(axis.patches) == 1
    no_band = replace(detection(0, metrics=1), band={})
    assert len(alert_figure(no_band).axes[0].collections) == 0


def test_top_metrics_missing_from_the_frame_fall_back_to_its_columns() -> None:
    base = detection(0, metrics=2)
    frame = base.frame.rename(columns={"memory_usage": "mem"})
    odd = replace(base, frame=frame)
    assert chart_metrics(odd) == ["java_gc_time"]
    no_ts = replace(base, frame=base.frame.drop(columns="ts"), top=())
    assert chart_metrics(no_ts) == ["memory_usage", "java_gc_time"]
    assert alert_chart(no_ts).startswith(PNG_SIGNATURE)
    empty = replace(base, frame=pd.DataFrame({"ts": []}), top=())
    assert alert_chart(empty).startswith(PNG_SIGNATURE)


def test_chart_is_fast() -> None:
    one = detection(0)
    alert_chart(one)  # warm up fonts and caches
    times = []
    for _ in range(5):
        start = time.perf_counter()
        alert_chart(one)
        times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2]
    print(f"alert chart: median {median * 1000:.0f} ms")
    assert median < 0.5  # target well under 200 ms; generous for a shared 2-core machine
