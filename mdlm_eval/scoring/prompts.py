"""The d1 instructions, character for character (dllm-reasoning/d1 eval/gsm8k.py, math500.py, countdown.py,
sudoku.py at commit 837888f), and the user message built from them.

d1 sends one user message, instruction + "\\n\\n" + question, with no system turn; the assistant turn is
prefilled with `<reasoning>` (the tasks' `gen_prefix`). Trailing spaces and the stray `"` of the MATH-500
instruction are part of the protocol.
"""
from __future__ import annotations

_BOXED_FORMAT = (
    "Respond in the following format:\n"
    "<reasoning>\nYour reasoning here\n</reasoning>\n"
    "<answer>\n\\boxed{...}\n</answer>"
)

GSM8K = (
    "You are a math expert. You will be given a question to solve. Solve it step by step. "
    "Wrap the final answer in a \\boxed{}. \n" + _BOXED_FORMAT
)

MATH500 = (
    "You are a math expert. You will be given a question to solve. Solve it step by step. "
    "Wrap the final answer in a \\boxed{}.\n" + _BOXED_FORMAT + '" \n'
)

COUNTDOWN = (
    "Using only the provided numbers, create an arithmetic expression that evaluates to exactly the "
    "provided target number. You may use the operations +, -, *, and / as needed, but each number must "
    "be used exactly once. Think step-by-step. After reasoning, provide only your final expression inside "
    "\\boxed{} tags without including an equals sign or the target number. "
    "For example: \\boxed{a + b * c}" + _BOXED_FORMAT
)

SUDOKU = (
    "\nPlease solve the following 4x4 Sudoku puzzle. The puzzle is provided as a 16-character string "
    "reading left-to-right, top-to-bottom, where '0' represents empty cells.\n\n"
    "Rules:\n"
    "- Fill empty cells with digits 1-4\n"
    "- Each row must contain digits 1-4 exactly once\n"
    "- Each column must contain digits 1-4 exactly once\n"
    "- Each 2x2 box must contain digits 1-4 exactly once\n\n"
    "Important: Your solution must be a COMPLETE 16-character string with only the digits 1-4, "
    "representing your final solved grid.\n\n"
    "Respond in this exact format:\n"
    "<reasoning>\nYour step-by-step solving process\n</reasoning>\n"
    "<answer>\n[16-character solution string with no spaces or separators]\n</answer>\n"
)


def user_message(instruction: str, question: str) -> str:
    """d1's user message: the instruction, a blank line, the question."""
    return instruction + "\n\n" + question
