"""The teacher's slides: built from executed notebooks, one slide per section with its figures, no code,
no provenance, no appendix."""
import base64

import nbformat
import pytest

from hff_edu.course import slides

PNG = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082")).decode()


def _executed():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    fig = code("figs.show(fig, 'loss')")
    fig.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]
    printed = code("print('secret code')")
    printed.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a printed line\n")]
    late = code("figs.show(fig2, 'claims')")
    late.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG})]
    return nbformat.v4.new_notebook(cells=[
        md("# 03 · HFF training\n\nGoal: train it."),
        md("## 1. One layer (~5 min)\n\nThe talking point.\n\nA second paragraph.\n\n"
           "<details><summary>Provenance</summary>ours: benchmarks</details>"),
        fig, printed,
        md("**Think!** Why one pass?\n\n<details><summary>Answer</summary>the prototypes</details>"),
        md("## Appendix: checks of this notebook's claims"), late,
    ])


def test_sections_become_slides_with_their_figures_and_nothing_else(tmp_path):
    executed = tmp_path / "run"
    executed.mkdir()
    nbformat.write(_executed(), str(executed / "03_hff_training.ipynb"))
    (written,) = slides.write_slides(executed, tmp_path / "slides", [executed / "03_hff_training.ipynb"])
    html = written.read_text()
    assert "One layer" in html and "The talking point." in html
    assert "A second paragraph." not in html, "a slide holds the section's first paragraph only"
    assert html.count(PNG[:40]) == 1, "the section's figure is on a slide, the appendix's is not"
    assert "Why one pass?" in html and "the prototypes" not in html, "Think! prompts without their answers"
    assert "secret code" not in html and "a printed line" not in html and "Provenance" not in html
    assert "reveal" in html.lower()


def test_a_missing_run_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="course run --profile classroom"):
        slides.write_slides(tmp_path, tmp_path / "out", [tmp_path / "00_x.ipynb"])
