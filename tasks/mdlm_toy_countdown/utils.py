"""The toy's compact prompt for d1's Countdown problems (mdlm_eval.models.toy.prompts)."""
from mdlm_eval.models.toy.prompts import countdown_prompt


def doc_to_text(doc: dict) -> str:
    return countdown_prompt(doc["numbers"], doc["target"])
