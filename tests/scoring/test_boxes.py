"""Reading boxes: d1's quirks, the robust reader, and linear time on huge texts."""
from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdlm_eval.scoring.boxes import assistant_turn, d1_answer_block, d1_boxed_answer, final_answer

DETERMINISTIC = settings(derandomize=True, deadline=None, max_examples=300)
pieces = st.sampled_from(["<answer>", "</answer>", "\\boxed{", "{", "}", "x", "\n", " 5 ", "<|eot_id|>"])


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("a \\boxed{1} b \\boxed{\\frac{1}{2}} c", "\\frac{1}{2}"),  # the last box, braces matched
        ("\\fbox{7}", "\\fbox{7}"),  # found, not unwrapped
        ("\\boxed{1} and \\fbox{7}", "1"),  # \fbox only when there is no \boxed
        ("\\boxed 5$ and \\boxed{6}", "5"),  # `\boxed ` wins, up to the next `$`
        ("\\boxed{5", None),  # unclosed
        ("no box at all", "no box at all"),  # the whole text
        ("\\boxed}{{5}", "\\boxed}{{5}"),  # braces counted from the command: -1, 0, 1, then 0 closes
        ("\\boxed\n{5}", "\\boxed\n{5}"),  # matched but not `\boxed{`: kept whole
    ],
)
def test_d1_boxed_answer_quirks(text: str, answer: str | None) -> None:
    assert d1_boxed_answer(text) == answer


@DETERMINISTIC
@given(st.lists(pieces, max_size=12).map("".join))
def test_d1_answer_block_is_d1s_regex(text: str) -> None:
    match = re.search(r"<answer>(.*?)</answer>", text, re.DOTALL)
    assert d1_answer_block(text) == (match.group(1).strip() if match else None)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("<answer>\n\\boxed{18}\n</answer><|eot_id|>", "18"),
        ("\\boxed{1} then \\boxed{2}", "2"),
        ("\\fbox{7}", "7"),
        ("<answer>boxed{27}</answer>", "27"),  # no backslash
        ("<answer>\n\\boxed{36><|eot_id|>", "36>"),  # open box inside the answer block runs to the block's end
        ("<answer>\n42\n</answer>", "42"),
        ("\\boxed{5}\n<answer>\n6\n</answer>", "6"),  # the later one wins
        ("<answer>\nsee below\n</answer>\n\\boxed{7}", "7"),
        ("\\boxed{5}<|eot_id|>\\boxed{6}", "5"),  # after the end of turn: not the model's answer
        ("\\boxed{ } \\boxed{}", None),
        ("the answer is 5", None),  # no whole-text fallback
        ("\\boxed{\\frac{1}{2}", None),  # unclosed, outside a block
    ],
)
def test_final_answer(text: str, answer: str | None) -> None:
    assert final_answer(text) == answer


def test_assistant_turn_stops_at_the_first_end_token() -> None:
    assert assistant_turn("a<|endoftext|>b<|eot_id|>c") == "a"
    assert assistant_turn("abc") == "abc"


@pytest.mark.parametrize("unit", ["\\boxed{", "{", "}", "<answer>", "\\boxed ", "\\fbox{1", "<answer>\\boxed{"])
def test_huge_texts_stay_linear(unit: str) -> None:
    text = unit * (400_000 // len(unit))
    start = time.perf_counter()
    d1_boxed_answer(text), d1_answer_block(text), final_answer(text)
    assert time.perf_counter() - start < 2
