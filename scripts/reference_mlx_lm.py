#!/usr/bin/env python3
"""Reference dumper: what Python mlx-lm does with a model, as JSON lines.

    python3 scripts/reference_mlx_lm.py --model DIR [--cases FILE] [--no-logits] < cases.json

Cases (a JSON array, {"cases": [...]}, or one JSON object per line):
    {"id": "chat1", "messages": [{"role": "user", "content": "..."}], "max_tokens": 20}
    {"id": "raw1",  "prompt": "Once upon a time", "raw": true, "max_tokens": 8}
    {"id": "ids1",  "prompt_tokens": [1, 2, 3], "max_tokens": 8}
Optional per case: "template_kwargs" (passed to apply_chat_template, e.g.
{"enable_thinking": false}), "logits": false (omit last_logits), "step_logits": true (add
"step_logits": the raw logits before each generated token, the first being last_logits).

For each case one line is printed:
    {"id", "prompt_text" (null for token input), "prompt_tokens", "tokens", "text",
     "finish_reason" ("stop" | "length"), "last_logits"}
* chat prompts go through mlx-lm's TokenizerWrapper.apply_chat_template(messages,
  tokenize=False, add_generation_prompt=True) and encode(add_special_tokens=False), as
  `mlx_lm generate` does (the template's own defaults apply, e.g. SmolLM2 adds its system
  prompt when none is given; mlx-lm passes enable_thinking=<tokenizer has <think>>);
* raw prompts are encoded as mlx_lm.stream_generate does (special tokens added unless the
  prompt already starts with the BOS token);
* generation is mlx_lm.stream_generate with the greedy sampler (temp 0); "tokens" are the
  generated ids and end with the EOS id when finish_reason is "stop"; "text" is mlx-lm's
  detokenized text (EOS not included);
* "last_logits" are the raw float32 logits at the last prompt position (captured through
  stream_generate's logits_processors hook, i.e. from the very forward pass mlx-lm uses),
  exact float32 values written as JSON numbers.
"""

import argparse
import json
import sys


def read_cases(text):
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, dict):
        data = data.get("cases", [data])
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--cases", help="JSON file of cases (default: stdin)")
    ap.add_argument("--no-logits", action="store_true", help="omit last_logits")
    ap.add_argument("--max-tokens", type=int, default=32, help="default max_tokens of a case")
    args = ap.parse_args()

    import mlx.core as mx
    from mlx_lm import load, stream_generate
    from mlx_lm.sample_utils import make_sampler

    cases = read_cases(open(args.cases).read() if args.cases else sys.stdin.read())
    model, tokenizer = load(args.model)
    sampler = make_sampler(temp=0.0)

    for case in cases:
        prompt_text = None
        if "messages" in case:
            prompt_text = tokenizer.apply_chat_template(
                case["messages"], tokenize=False, add_generation_prompt=True,
                **case.get("template_kwargs", {}))
            prompt = tokenizer.encode(prompt_text, add_special_tokens=False)
        elif "prompt_tokens" in case:
            prompt = [int(t) for t in case["prompt_tokens"]]
        elif "prompt" in case:
            prompt_text = case["prompt"]
            if not case.get("raw", True):
                raise SystemExit(f"case {case.get('id')}: a 'prompt' case must be raw (use 'messages' for chat)")
            add_special = tokenizer.bos_token is None or not prompt_text.startswith(tokenizer.bos_token)
            prompt = tokenizer.encode(prompt_text, add_special_tokens=add_special)
        else:
            raise SystemExit(f"case {case.get('id')}: needs messages, prompt or prompt_tokens")

        want_logits = not args.no_logits and case.get("logits", True)
        want_steps = bool(case.get("step_logits", False))
        captured = []

        def capture(tokens, logits):
            if want_steps or not captured:
                captured.append(logits.astype(mx.float32))
            return logits

        tokens, text, finish = [], "", None
        for resp in stream_generate(model, tokenizer, prompt, max_tokens=int(case.get("max_tokens", args.max_tokens)),
                                    sampler=sampler, logits_processors=[capture]):
            tokens.append(int(resp.token))
            text += resp.text
            finish = resp.finish_reason
        out = {
            "id": case.get("id"),
            "prompt_text": prompt_text,
            "prompt_tokens": [int(t) for t in prompt],
            "tokens": tokens,
            "text": text,
            "finish_reason": finish,
        }
        if want_logits:
            out["last_logits"] = captured[0].reshape(-1).tolist()
        if want_steps:
            # generate_step computes one step ahead; keep one row per generated token
            out["step_logits"] = [c.reshape(-1).tolist() for c in captured[: len(tokens)]]
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
