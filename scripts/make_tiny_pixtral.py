#!/usr/bin/env python3
"""Make a tiny, randomly initialised Pixtral or Mistral3 checkpoint in mlx-community's layout, in two steps.

    # 1. the tokenizer (the tekken venv: mistral-common + transformers, scripts/venv.sh tekken)
    python scripts/make_tiny_pixtral.py tokenizer [--family mistral3] --tekken tekken_240911.json --out TOK_DIR
    # 2. the model (the vlm venv: mlx-vlm 0.7, scripts/venv.sh vlm)
    python scripts/make_tiny_pixtral.py model [--family mistral3] --tokenizer TOK_DIR --out DIR [--seed 0]

scripts/fixtures-vlm.sh model pixtral|mistral3 runs both (tekken_240911.json comes from the
mistral-common wheel, scripts/fixtures.sh tekken). --family defaults to pixtral.

Tokenizer: Pixtral-12B's real one, Tekken v3 (mistral-common's tekken_240911.json: 130,072 byte-level
BPE ranks after 1,000 special tokens, vocabulary 131,072; <unk> 0, <s> 1, </s> 2, [INST] 3, [/INST] 4,
[IMG] 10, <pad> 11, [IMG_BREAK] 12, [IMG_END] 13), turned into tokenizer.json by transformers' own
converter (transformers.integrations.mistral.convert_tekken_tokenizer; the file is in the old tekken
format without a special-token list, for which the converter takes mistral-common's). It is checked
against mistral-common's own Tekkenizer on a few strings.

Chat template: mistral-community/pixtral-12b's (chat_template.json; the Hub is out of reach, so it
is written out here from its published text): `<s>[INST]{system\\n\\n}{[IMG] per image part}{text}[/INST]`.
The one change: a system message whose content is a list of text parts (mlx-vlm passes it so) is
joined, where the original concatenates the list to a string and fails.

Model: mlx-vlm's own classes (mlx_vlm.models.pixtral) from a config with
mlx-community/pixtral-12b-4bit's keys (model_type pixtral, image_token_index 10, vision feature
layer -1, strategy "full", text_config mistral with rope theta 1e9, eps 1e-5, vocabulary 131,072,
untied lm_head, max_position_embeddings 1,024,000; vision_config pixtral with patch 16, rope theta
1e4), shrunk: text hidden 64, 3 layers, 4 heads / 2 KV heads of head_dim 32 (not 64 / 4: a runner
must read head_dim), intermediate 128; vision hidden 64, 2 layers, 4 heads of 16, intermediate 128,
image_size 128 (8 patches per side at most, the processor's longest_edge). RMSNorm weights are
1 + 0.1 * noise, so that a mix-up of norms shows. Written in the Hugging Face (Llava) layout,
patch_conv in torch layout [out, in, kh, kw], then published with mlx-vlm's own converter
(quantize=True, group 64, 4 bits, as mlx-community does; scripts/tiny_vlm_publish.py).
Processor files: mistral-community/pixtral-12b's (PixtralImageProcessor: bicubic, rescale 1/255,
CLIP mean/std, patch 16) with longest_edge 128.

Mistral3 (--family mistral3, Mistral Small 3.1): the same tokenizer (Small 3.1's later Tekken is not
in mistral-common; v3 has its special tokens at the same ids, [SYSTEM_PROMPT] 17, [/SYSTEM_PROMPT] 18);
Mistral-Small-3.1-24B-Instruct-2503's chat template, `today` fixed at 2025-03-17 (it was strftime_now:
the default system message would change the reference every day); mlx_vlm.models.mistral3 from a config
with that model's keys (spatial_merge_size 2, projector without biases, max positions 131,072; vision
patch 14), shrunk as above but image_size/longest_edge 224 (at most 16x16 patches, 8x8 merged tokens).
See docs/fixtures.md.
"""

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path


SPECIAL = {"<unk>": 0, "<s>": 1, "</s>": 2, "[INST]": 3, "[/INST]": 4, "[IMG]": 10, "<pad>": 11,
           "[IMG_BREAK]": 12, "[IMG_END]": 13, "[SYSTEM_PROMPT]": 17, "[/SYSTEM_PROMPT]": 18}
VOCAB = 131072
# Per family: the vision image_size (= the processor's longest_edge), patch size, spatial merge.
GEOMETRY = {"pixtral": (128, 16, 1), "mistral3": (224, 14, 2)}

PIXTRAL_TEMPLATE = """{%- if messages[0]["role"] == "system" %}
    {%- if messages[0]["content"] is string %}
        {%- set system_message = messages[0]["content"] %}
    {%- else %}
        {%- set system_message = messages[0]["content"] | map(attribute="text") | join("\\n\\n") %}
    {%- endif %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message["role"] == "user" %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST]" + system_message + "\\n\\n" }}
        {%- else %}
            {{- "[INST]" }}
        {%- endif %}
        {%- if message["content"] is not string %}
            {%- for chunk in message["content"] %}
                {%- if chunk["type"] == "text" %}
                    {%- if "content" in chunk %}
                        {{- chunk["content"] }}
                    {%- elif "text" in chunk %}
                        {{- chunk["text"] }}
                    {%- endif %}
                {%- elif chunk["type"] == "image" %}
                    {{- "[IMG]" }}
                {%- else %}
                    {{- raise_exception("Unrecognized content type!") }}
                {%- endif %}
            {%- endfor %}
        {%- else %}
            {{- message["content"] }}
        {%- endif %}
        {{- "[/INST]" }}
    {%- elif message["role"] == "assistant" %}
        {{- message["content"] + eos_token}}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}"""

# Mistral-Small-3.1-24B-Instruct-2503's, verbatim but for `today` (was strftime_now("%Y-%m-%d")).
MISTRAL3_TEMPLATE = r'''{%- set today = "2025-03-17" %}
{%- set default_system_message = "You are Mistral Small 3, a Large Language Model (LLM) created by Mistral AI, a French startup headquartered in Paris.\nYour knowledge base was last updated on 2023-10-01. The current date is " + today + ".\n\nWhen you're not sure about some information, you say that you don't have the information and don't make up anything.\nIf the user's question is not clear, ambiguous, or does not provide enough context for you to accurately answer the question, you do not try to answer it right away and you rather ask the user to clarify their request (e.g. \"What are some good restaurants around me?\" => \"Where are you?\" or \"When is the next flight to Tokyo\" => \"Where do you travel from?\")" %}

{{- bos_token }}

{%- if messages[0]['role'] == 'system' %}
    {%- if messages[0] is string %}
        {%- set system_message = messages[0]['content'] %}
        {%- set loop_messages = messages[1:] %}
    {%- else %} 
        {%- set system_message = messages[0]['content'][0]['text'] %}
        {%- set loop_messages = messages[1:] %}
    {%- endif %}
{%- else %}
    {%- set system_message = default_system_message %}
    {%- set loop_messages = messages %}
{%- endif %}
{{- '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}

{%- for message in loop_messages %}
    {%- if message['role'] == 'user' %}
            {%- if message['content'] is string %}
            {{- '[INST]' + message['content'] + '[/INST]' }}
            {%- else %}
                    {{- '[INST]' }}
                    {%- for block in message['content'] %}
                            {%- if block['type'] == 'text' %}
                                    {{- block['text'] }}
                            {%- elif block['type'] == 'image' or block['type'] == 'image_url' %}
                                    {{- '[IMG]' }}
                                {%- else %}
                                    {{- raise_exception('Only text and image blocks are supported in message content!') }}
                                {%- endif %}
                        {%- endfor %}
                    {{- '[/INST]' }}
                {%- endif %}
    {%- elif message['role'] == 'system' %}
        {{- '[SYSTEM_PROMPT]' + message['content'] + '[/SYSTEM_PROMPT]' }}
    {%- elif message['role'] == 'assistant' %}
        {%- if message['content'] is string %}
            {{- message['content'] + eos_token }}
        {%- else %}
            {{- message['content'][0]['text'] + eos_token }}
        {%- endif %}
    {%- else %}
        {{- raise_exception('Only user, system and assistant roles are supported!') }}
    {%- endif %}
{%- endfor %}'''

TEMPLATES = {"pixtral": PIXTRAL_TEMPLATE, "mistral3": MISTRAL3_TEMPLATE}


def preprocessor(family):
    size, patch, _ = GEOMETRY[family]
    return {
        "do_convert_rgb": True,
        "do_normalize": True,
        "do_rescale": True,
        "do_resize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_processor_type": "PixtralImageProcessor",
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "patch_size": {"height": patch, "width": patch},
        "processor_class": "PixtralProcessor",
        "resample": 3,
        "rescale_factor": 0.00392156862745098,
        "size": {"longest_edge": size},
    }


def processor(family):
    _, patch, merge = GEOMETRY[family]
    return {"image_break_token": "[IMG_BREAK]", "image_end_token": "[IMG_END]", "image_token": "[IMG]",
            "patch_size": patch, "processor_class": "PixtralProcessor", "spatial_merge_size": merge}


def config(family):
    size, patch, merge = GEOMETRY[family]
    text = {
        "model_type": "mistral", "hidden_size": 64, "head_dim": 32, "intermediate_size": 128,
        "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 2,
        "hidden_act": "silu", "rms_norm_eps": 1e-5, "rope_theta": 1000000000.0, "vocab_size": VOCAB,
        "max_position_embeddings": 1024000, "sliding_window": None, "tie_word_embeddings": False,
        "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2, "is_composition": True,
    }
    vision = {
        "model_type": "pixtral", "hidden_size": 64, "head_dim": 16, "intermediate_size": 128,
        "num_attention_heads": 4, "num_hidden_layers": 2, "image_size": size, "patch_size": patch,
        "num_channels": 3, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
        "is_composition": True,
    }
    if family == "mistral3":  # Mistral-Small-3.1-24B-Instruct-2503's config.json keys
        for k in ("bos_token_id", "eos_token_id", "is_composition"):
            del text[k]
        text["max_position_embeddings"] = 131072
        for k in ("tie_word_embeddings", "is_composition"):
            del vision[k]
        return {
            "architectures": ["Mistral3ForConditionalGeneration"], "model_type": "mistral3",
            "image_token_index": 10, "multimodal_projector_bias": False, "projector_hidden_act": "gelu",
            "spatial_merge_size": merge, "vision_feature_layer": -1, "torch_dtype": "bfloat16",
            "text_config": text, "vision_config": vision,
        }
    return {
        "architectures": ["LlavaForConditionalGeneration"], "model_type": "pixtral",
        "ignore_index": -100, "image_seq_length": 1, "image_token_index": 10,
        "projector_hidden_act": "gelu", "vision_feature_layer": -1,
        "vision_feature_select_strategy": "full", "torch_dtype": "bfloat16",
        "text_config": text, "vision_config": vision,
    }


def make_tokenizer(args):
    """Tekken -> tokenizer.json with transformers' converter, checked against mistral-common."""
    from mistral_common.tokens.tokenizers.tekken import SpecialTokenPolicy, Tekkenizer
    from transformers.integrations.mistral import convert_tekken_tokenizer

    out = Path(args.out)
    tok = convert_tekken_tokenizer(args.tekken, chat_template=TEMPLATES[args.family])
    assert len(tok) == VOCAB, len(tok)
    for t, i in SPECIAL.items():
        assert tok.convert_tokens_to_ids(t) == i, (t, tok.convert_tokens_to_ids(t), i)
    tok.save_pretrained(str(out))
    ref = Tekkenizer.from_file(args.tekken)
    for s in ("Describe this image.", "Where and when was this photo taken?",
              " 1234 über naïve café\n\n  code:\tx = f(y) # 日本語 🙂", "[Image 1 | Date: 2003-11-23]"):
        ours = tok(s, add_special_tokens=False).input_ids
        theirs = ref.encode(s, bos=False, eos=False)
        assert ours == theirs, (s, ours, theirs)
        assert tok.decode(ours) == ref.decode(theirs, special_token_policy=SpecialTokenPolicy.KEEP) == s
    ids = tok("[SYSTEM_PROMPT]s[/SYSTEM_PROMPT][INST][IMG][IMG_BREAK][IMG_END]hi[/INST]").input_ids
    s_id, hi = (ref.encode(x, bos=False, eos=False)[0] for x in ("s", "hi"))
    assert ids[:8] == [17, s_id, 18, 3, 10, 12, 13, hi], ids
    print(f"tekken tokenizer: {len(tok)} tokens, {ref.num_special_tokens} special; "
          "agrees with mistral-common's Tekkenizer", file=sys.stderr)


def hf_name(k: str) -> str:
    """mlx-vlm's names -> mistral-community/pixtral-12b's and Mistral-Small-3.1-2503's (transformers 4.50:
    vision_tower.*, multi_modal_projector.*, language_model.model.*, language_model.lm_head), which
    pixtral's and mistral3's Model.sanitize map back."""
    return k.replace("vision_tower.vision_model.", "vision_tower.")


def make_model(args):
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_vlm.models import mistral3, pixtral
    from tiny_vlm_publish import publish

    family = args.family
    arch = {"pixtral": pixtral, "mistral3": mistral3}[family]
    template = TEMPLATES[family]
    out, src = Path(args.out), Path(args.tokenizer)
    cfg = config(family)
    with tempfile.TemporaryDirectory() as tmp:
        hf = Path(tmp) / "hf"
        hf.mkdir()
        shutil.copyfile(src / "tokenizer.json", hf / "tokenizer.json")
        tc = json.loads((src / "tokenizer_config.json").read_text())
        tc["processor_class"] = "PixtralProcessor"
        (hf / "tokenizer_config.json").write_text(json.dumps(tc, indent=2))
        assert (src / "chat_template.jinja").read_text() == template, "tokenizer made for another family"
        (hf / "chat_template.json").write_text(json.dumps({"chat_template": template}, indent=2))
        (hf / "config.json").write_text(json.dumps(cfg, indent=2))
        (hf / "preprocessor_config.json").write_text(json.dumps(preprocessor(family), indent=2))
        (hf / "processor_config.json").write_text(json.dumps(processor(family), indent=2))
        (hf / "generation_config.json").write_text(json.dumps(
            {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 11}, indent=2))

        # The random model, built by mlx-vlm's own classes (as mlx_vlm.utils.load_model does).
        mx.random.seed(args.seed)
        model_config = arch.ModelConfig.from_dict(cfg)
        model_config.vision_config = arch.VisionConfig.from_dict(cfg["vision_config"])
        model_config.text_config = arch.TextConfig.from_dict(cfg["text_config"])
        model = arch.Model(model_config)
        params = dict(tree_flatten(model.parameters()))
        hf_params = {}
        for k, v in params.items():
            if "norm" in k or "ln_pre" in k:  # every norm is an RMSNorm at 1 (mistral3's projector's too)
                assert k.endswith(".weight"), k
                v = 1.0 + 0.1 * mx.random.normal(v.shape)
            if k.endswith("patch_conv.weight"):
                v = v.transpose(0, 3, 1, 2)  # MLX [out, kh, kw, in] -> torch [out, in, kh, kw]
            hf_params[hf_name(k)] = v.astype(mx.float32)
        # Publish it the way mlx-community does (scripts/tiny_vlm_publish.py).
        publish(hf, hf_params, out, family)
    print(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="step", required=True)
    t = sub.add_parser("tokenizer")
    t.add_argument("--tekken", required=True, help="mistral-common's tekken_240911.json")
    m = sub.add_parser("model")
    m.add_argument("--tokenizer", required=True, help="the directory the tokenizer step wrote (same family)")
    m.add_argument("--seed", type=int, default=0)
    for a in (t, m):
        a.add_argument("--family", choices=sorted(TEMPLATES), default="pixtral")
        a.add_argument("--out", required=True)
    args = ap.parse_args()
    make_tokenizer(args) if args.step == "tokenizer" else make_model(args)


if __name__ == "__main__":
    main()
