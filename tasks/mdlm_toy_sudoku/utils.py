"""The toy's compact prompt for d1's Sudoku puzzles (mdlm_eval.models.toy.prompts)."""
from mdlm_eval.models.toy.prompts import sudoku_prompt


def doc_to_text(doc: dict) -> str:
    return sudoku_prompt(doc["puzzle"])
