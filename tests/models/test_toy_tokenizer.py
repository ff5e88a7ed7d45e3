"""The toy tokenizer: LLaDA's special tokens and chat template, character-level round trip, left padding."""
import pytest

from mdlm_eval.models.toy import build_tokenizer, countdown_prompt, sudoku_prompt
from mdlm_eval.models.toy.prompts import countdown_answer, sudoku_answer
from mdlm_eval.models.toy.tokenizer import chat_prompt


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_special_tokens_in_llada_roles(tok):
    ids = tok.convert_tokens_to_ids
    assert tok.mask_token == "<|mdm_mask|>" and tok.eos_token == "<|endoftext|>" and tok.pad_token == tok.eos_token
    assert tok.bos_token == "<|startoftext|>" and tok.padding_side == "left"
    assert len({ids(t) for t in ["<|mdm_mask|>", "<|endoftext|>", "<|eot_id|>", "<|startoftext|>",
                                 "<|start_header_id|>", "<|end_header_id|>"]}) == 6
    assert tok.pad_token_id != tok.mask_token_id
    assert len(tok) <= 128


def test_round_trip(tok):
    text = "Sudoku 4x4: 1002003001000300 -> <answer>1342</answer> \\boxed{(100-93)*3} <|eot_id|>\n x"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text
    assert len(tok("<answer>", add_special_tokens=False)["input_ids"]) == 1


def test_chat_template_is_llada_form(tok):
    msg = sudoku_prompt("1002003001000300")
    rendered = tok.apply_chat_template([{"role": "user", "content": "  " + msg + "\n"}], add_generation_prompt=True,
                                       tokenize=False)
    assert rendered == ("<|startoftext|><|start_header_id|>user<|end_header_id|>\n\n" + msg +
                        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    assert rendered == chat_prompt(msg)
    prefilled = tok.apply_chat_template([{"role": "user", "content": msg}, {"role": "assistant", "content": "<reasoning>"}],
                                        continue_final_message=True, tokenize=False)
    assert prefilled == rendered + "<reasoning>"


def test_prompts_and_answers():
    assert countdown_prompt([30, 100, 93], 23) == "Countdown:  30 100  93 ->  23"
    assert sudoku_answer("1" * 16) == "<answer>1111111111111111</answer>"
    assert countdown_answer("30+93-100") == "\\boxed{30+93-100}"
    with pytest.raises(ValueError):
        sudoku_prompt("123")


def test_left_padding(tok):
    enc = tok(["ab", "abcd"], padding=True, add_special_tokens=False)
    assert enc["input_ids"][0][:2] == [tok.pad_token_id] * 2 and enc["attention_mask"][0] == [0, 0, 1, 1]
