"""Finding the answer in a generated canvas: d1's quirky box reader and a robust one.

d1's reader (dllm-reasoning/d1 eval/parser_helper.py, `last_boxed_only_string` + `remove_boxed`) is
reproduced in `d1_boxed_answer` with its quirks; `final_answer` is the robust reader the robust metrics
use. Both see the whole canvas, special tokens included.
"""
from __future__ import annotations

import re

END_OF_TURN = ("<|eot_id|>", "<|endoftext|>", "<|im_end|>")
"""End-of-turn and end-of-text tokens (LLaDA's; Dream's `<|im_end|>`) as a canvas decoded with special tokens
shows them."""

_BOX_OPENING = re.compile(r"(?:\\|\b)(?:boxed|fbox)\s*\{")


def d1_boxed_answer(text: str) -> str | None:
    r"""The answer d1 reads from the last box, with d1's quirks (eval/parser_helper.py).

    - If `\boxed ` (with a space) occurs anywhere, the answer is what follows its last occurrence, up to
      the next `$`; this rule wins over any `\boxed{...}`.
    - Otherwise the last `\boxed` (or, only if there is none, the last `\fbox`) is matched with its braces,
      counting from the command on; no closing brace gives None.
    - `\boxed{x}` is unwrapped to `x`; a matched `\fbox{x}` (or a `\boxed` not directly followed by `{`)
      is returned as it stands, command and braces included: \fbox is found but not unwrapped.
    - With neither command in the text, the whole text is the answer.
    """
    if "\\boxed " in text:
        return text.split("\\boxed ")[-1].split("$")[0]
    start = text.rfind("\\boxed")
    if start < 0:
        start = text.rfind("\\fbox")
        if start < 0:
            return text
    span = _first_balanced_span(text, start)
    if span is None:
        return None
    if span.startswith("\\boxed{") and span.endswith("}"):
        return span[len("\\boxed{") : -1]
    return span


def _first_balanced_span(text: str, start: int) -> str | None:
    """`text[start:end]` where `end` closes the first brace group opened at or after `start`, else None.

    Braces are counted from `start`, so a `}` seen before any `{` drives the count below zero and the
    span can only close once the count comes back to zero (d1's counting, kept as is).
    """
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return None


def d1_answer_block(text: str) -> str | None:
    """The stripped content of the first `<answer>...</answer>` block (d1's fallback), or None.

    Same result as d1's `re.search(r"<answer>(.*?)</answer>", text, re.DOTALL)`, in linear time.
    """
    start = text.find("<answer>")
    end = text.find("</answer>", start + len("<answer>")) if start >= 0 else -1
    return text[start + len("<answer>") : end].strip() if end >= 0 else None


def assistant_turn(text: str) -> str:
    """The canvas up to the first end-of-turn or end-of-text token: what the model said before it stopped."""
    cut = min((i for i in (text.find(t) for t in END_OF_TURN) if i >= 0), default=len(text))
    return text[:cut]


def last_boxed_content(text: str, *, open_ended: bool = False) -> str | None:
    r"""The stripped content of the last complete, non-blank `\boxed{...}` or `\fbox{...}`, or None.

    With `open_ended`, a last box left unclosed runs to the end of the text (used inside an answer block,
    whose end bounds it).
    """
    box = _last_box(text, open_ended=open_ended)
    return None if box is None else box[1]


def _last_box(text: str, *, open_ended: bool = False) -> tuple[int, str] | None:
    """(start, stripped content) of the box `last_boxed_content` reads, or None."""
    openings = list(_BOX_OPENING.finditer(text))
    closing = _matching_braces(text) if openings else {}
    for opening in reversed(openings):
        end = closing.get(opening.end() - 1)
        if end is None and open_ended and opening is openings[-1]:
            end = len(text)
        if end is not None and text[opening.end() : end].strip():
            return opening.start(), text[opening.end() : end].strip()
    return None


def _matching_braces(text: str) -> dict[int, int]:
    """Position of each `{` that is closed -> position of its `}` (one pass, so huge texts stay cheap)."""
    pairs: dict[int, int] = {}
    stack: list[int] = []
    for i, char in enumerate(text):
        if char == "{":
            stack.append(i)
        elif char == "}" and stack:
            pairs[stack.pop()] = i
    return pairs


def answer_block(text: str) -> str | None:
    """The stripped content of the last `<answer>` block (closed, or running to the end), None if empty."""
    start = text.rfind("<answer>")
    if start < 0:
        return None
    content = text[start + len("<answer>") :].split("</answer>")[0].strip()
    return content or None


def final_answer(text: str) -> str | None:
    r"""The robust reader: the model's final answer in its turn, or None.

    Only the assistant turn counts (text after the first end-of-turn token is ignored). Of the last
    complete non-blank box and the last non-empty `<answer>` block, the later one wins; a block gives
    its last non-blank box (closed, or running to the block's end), else its text. `\fbox` counts as a
    box and is unwrapped, and so does a box written without its backslash (`boxed{5}`); there is no
    whole-text fallback.
    """
    turn = assistant_turn(text)
    box = _last_box(turn)
    block_start = turn.rfind("<answer>")
    block = answer_block(turn)
    if block is not None and (box is None or block_start > box[0]):
        return last_boxed_content(block, open_ended=True) or block
    return None if box is None else box[1]
