r"""MATH-500: the d1 prompt, d1's score (`acc`) and the robust score (`acc_math_verify`).

Docs: `problem` (str), `answer` (str, LaTeX), plus MATH-500's `solution`, `subject`, `level`, `unique_id`.
"""
from __future__ import annotations

from mdlm_eval.scoring import prompts
from mdlm_eval.scoring.boxes import d1_answer_block, d1_boxed_answer, final_answer
from mdlm_eval.scoring.hendrycks import d1_math_equiv
from mdlm_eval.scoring.verify import math_equal


def doc_to_text(doc: dict) -> str:
    """The d1 user message for a MATH-500 doc."""
    return prompts.user_message(prompts.MATH500, doc["problem"])


def extract_answer(text: str) -> str | None:
    r"""d1's MATH reader (eval/parse_and_get_acc.py, `parse_math_answers`).

    The last box as `boxes.d1_boxed_answer` reads it: with no `\boxed`/`\fbox` at all the whole text is
    the answer, and a `\fbox{x}` stays wrapped. Only when that gives nothing (an unclosed box, an empty
    box) does the first `<answer>` block count.
    """
    answer = d1_boxed_answer(text)
    if not answer:
        block = d1_answer_block(text)
        if block is not None:
            return block
    return answer


def acc(doc: dict, text: str) -> int:
    """d1's score: Hendrycks-normalised string equality (hendrycks.d1_math_equiv)."""
    answer = extract_answer(text)
    return int(answer is not None and d1_math_equiv(answer, doc["answer"]))


def acc_math_verify(doc: dict, text: str) -> int:
    """Robust score: the final answer (boxes.final_answer) equals the gold answer by math-verify."""
    return int(math_equal(final_answer(text), doc["answer"]))


def process_results(doc: dict, results: list[str]) -> dict[str, int]:
    """lm-eval hook: both scores of the one generation."""
    text = results[0]
    return {"acc": acc(doc, text), "acc_math_verify": acc_math_verify(doc, text)}
