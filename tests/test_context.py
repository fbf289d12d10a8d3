"""The notebook as context: tables, images, files and `_repr_llm_` in a prompt, bounded."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image as PILImage

from nbstream.context import Prompt, build
from nbstream.context.images import image_tokens
from nbstream.engine.result import estimate_tokens
from nbstream.errors import BadInputError
from nbstream.session import Session
from nbstream.show.live import driver
from nbstream.show.rendering import footer
from nbstream.show.surfaces import NullSurface
from nbstream.turn import TurnOptions

from .conftest import demo_session

matplotlib.use("agg")
import matplotlib.pyplot as plt


def prompt(text: str, budget: int = 4000, max_side: int = 1024, **names: Any) -> Prompt:
    return build(text, names, budget=budget, max_side=max_side)


def png(width: int, height: int, color: str = "red") -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def decoded(part: dict[str, Any]) -> PILImage.Image:
    url = part["image_url"]["url"]
    assert url.startswith("data:image/")
    return PILImage.open(io.BytesIO(base64.b64decode(url.partition(",")[2])))


# ---- tables


def test_a_dataframe_sends_shape_dtypes_head_and_tail_and_says_what_it_left_out() -> None:
    df = pd.DataFrame({"city": [f"c{i}" for i in range(344)], "n": range(344)})
    sent = prompt("odd? {df}", df=df)
    assert "344 rows × 2 columns" in sent and f"city: {df.dtypes['city']}, n: int64" in sent
    assert "| 0 | c0 | 0 |" in sent and "| 343 | c343 | 343 |" in sent
    assert "| 200 | c200 |" not in sent
    assert "(left out: 329 of 344 rows)" in sent
    assert sent.attached() == "1 table (344×2)"


def test_a_short_dataframe_is_sent_whole_without_a_note() -> None:
    sent = prompt("{df}", df=pd.DataFrame({"a": [1.5, 2.25], "b": ["x|y", "z"]}))
    assert "| 1 | 2.25 | z |" in sent and "x\\|y" in sent
    assert "left out" not in sent


@pytest.fixture(scope="module")
def huge() -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(0).random((50_000, 200)))  # 80 MB; str(): 5 MB


@pytest.mark.parametrize("budget", [200, 1000, 4000])
def test_a_huge_dataframe_stays_under_the_bound(huge: pd.DataFrame, budget: int) -> None:
    sent = prompt("{huge}", budget=budget, huge=huge)
    assert estimate_tokens(sent) <= budget
    assert "50000 rows × 200 columns" in sent
    assert "rows" in sent.split("left out:")[1] and "columns" in sent.split("left out:")[1]


def test_a_series_is_a_one_column_table() -> None:
    sent = prompt("{s}", s=pd.Series([3, 1, 2], name="score"))
    assert "3 rows × 1 columns" in sent and "| 2 | 2 |" in sent


def test_a_polars_frame_is_a_table_too() -> None:
    pl = pytest.importorskip("polars")
    sent = prompt("{df}", df=pl.DataFrame({"a": list(range(50))}))
    assert "polars table, 50 rows × 1 columns" in sent and "left out: 35 of 50 rows" in sent


# ---- objects describe themselves


class Described:
    def _repr_llm_(self) -> str:
        return "an object in its own words"

    def _repr_markdown_(self) -> str:
        return "**markdown**"

    def __str__(self) -> str:
        return "str"


class Markdown:
    def _repr_markdown_(self) -> tuple[str, dict[str, Any]]:
        return "**markdown**", {}


def test_repr_llm_comes_before_markdown_and_str() -> None:
    sent = prompt("{a} {b}", a=Described(), b=Markdown())
    assert sent == "an object in its own words **markdown**"


def test_a_long_str_of_an_object_is_cut_to_the_budget_but_a_str_is_sent_whole() -> None:
    class Long:
        def __str__(self) -> str:
            return "x" * 100_000

    assert len(prompt("{t}", budget=100, t="y" * 100_000)) == 100_000
    cut = prompt("{o}", budget=100, o=Long())
    assert len(cut) < 1000 and "left out: 99,600 of 100,000 characters" in cut


# ---- images


def test_a_figure_becomes_an_image_part_resized_to_the_max_side() -> None:
    fig, ax = plt.subplots(figsize=(12, 6), dpi=100)
    ax.plot([1, 3, 2])
    sent = prompt("why {fig}?", max_side=512, fig=fig)
    text, image = sent.content()
    assert text["type"] == "text" and text["text"].startswith("why [image 1: image 512×")
    picture = decoded(image)
    assert picture.format == "PNG" and max(picture.size) == 512
    assert sent.attached().startswith("1 image (")
    plt.close(fig)


def test_pil_and_ipython_images_are_image_parts() -> None:
    from IPython.display import Image as IPyImage

    small = IPyImage(data=png(30, 20, "blue"))
    sent = prompt("{a} {b}", a=PILImage.new("RGB", (2000, 1000)), b=small)
    parts = sent.content()[1:]
    assert [decoded(p).size for p in parts] == [(1024, 512), (30, 20)]
    assert "[image 1:" in sent and "[image 2: image 30×20 PNG" in sent
    assert sent.attached() == f"2 images ({image_tokens(1024, 512) + image_tokens(30, 20)} tokens)"


@pytest.mark.parametrize(
    ("size", "tokens"),
    [((1024, 1024), 765), ((2048, 4096), 1105), ((512, 512), 255), ((100, 100), 255)],
)
def test_image_tokens_follow_openais_tile_formula(size: tuple[int, int], tokens: int) -> None:
    assert image_tokens(*size) == tokens  # OpenAI's worked examples


# ---- files


def test_attached_files_text_pdf_and_images(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("line one\nline two")
    picture = tmp_path / "p.jpg"
    PILImage.new("RGB", (40, 30)).save(picture, format="JPEG")
    sent = build("look", None, budget=100, max_side=64, attachments=[str(notes), str(picture)])
    assert "--- notes.txt ---\nline one\nline two\n--- end of notes.txt ---" in sent
    assert decoded(sent.content()[1]).format == "JPEG"
    assert sent.attached().startswith("1 file (notes.txt), 1 image (")


def test_a_pdf_attaches_as_its_text(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    path = tmp_path / "blank.pdf"
    writer = PdfWriter()
    writer.add_blank_page(100, 100)
    writer.write(path)
    sent = build("{x}", None, budget=100, max_side=64, attachments=[str(path)])
    assert "--- blank.pdf ---\n[page 1]" in sent


def test_a_huge_text_file_is_cut_to_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "big.log"
    path.write_text("word " * 1_000_000)
    sent = build("", None, budget=500, max_side=64, attachments=[str(path)])
    assert estimate_tokens(sent) < 600 and "left out: 4,998,000 of 5,000,000 characters" in sent


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("missing.txt", None, "no such file"),
        ("x.bin", b"\x00\x01binary", "binary"),
        ("fake.png", b"not a png", "not an image"),
    ],
)
def test_a_file_that_cannot_be_attached_says_why(
    tmp_path: Path, name: str, data: bytes | None, says: str
) -> None:
    if data is not None:
        (tmp_path / name).write_bytes(data)
    with pytest.raises(BadInputError, match=says):
        build("", None, budget=100, max_side=64, attachments=[str(tmp_path / name)])


def test_an_image_url_is_sent_as_a_url_and_other_urls_are_refused() -> None:
    sent = build("", None, budget=100, max_side=64, attachments=["https://x.test/a.png"])
    assert sent.content()[1] == {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
    with pytest.raises(BadInputError, match="only image URLs"):
        build("", None, budget=100, max_side=64, attachments=["https://x.test/a.html"])


# ---- through a session, to the server, into the store and the cache


@pytest.fixture
def session(server, log, monkeypatch, tmp_path) -> Session:
    return demo_session(server, monkeypatch, on_disk=tmp_path)


def test_a_figure_reaches_the_server_as_an_image_part_and_the_store_keeps_a_placeholder(
    session: Session, log, tmp_path: Path
) -> None:
    fig, ax = plt.subplots()
    ax.bar(["a", "b"], [1, 2])
    df = pd.DataFrame({"a": range(344)})
    sent = prompt("why {fig} with {df}", max_side=256, fig=fig, df=df)
    options = TurnOptions(cache="record", params={"nbstream": {"rate": 0}})
    result = session.chat(sent, options, driver(NullSurface()))
    content = log.records[-1].body["messages"][-1]["content"]
    assert [p["type"] for p in content] == ["text", "image_url"]
    assert max(decoded(content[1]).size) == 256
    assert "1 image (≈" in result.attached and "1 table (344×1)" in result.attached
    assert f"attached {result.attached}" in footer(result)
    stored = session.store.thread().exchanges[-1].user
    assert stored == str(sent) and "[image 1: image 256×" in stored and "base64" not in stored
    (request,) = sqlite3.connect(tmp_path / "cache.sqlite").execute("SELECT request FROM replies")
    assert "base64" not in request[0] and "sha256:" in json.dumps(request[0])
    plt.close(fig)
