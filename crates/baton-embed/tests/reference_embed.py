"""An independent reference for baton-embed's vectors: the BERT forward pass
of a sentence-transformers model written out in numpy (float64), followed by
mean pooling and L2 normalisation, with no torch and no candle.

Usage: python reference_embed.py MODEL_DIR < texts.json > vectors.json
(texts.json is a JSON list of strings; the output is a JSON list of vectors.)

Only what all-MiniLM-L6-v2 uses is implemented (absolute positions, erf GELU,
mean pooling, a Normalize module); anything else is refused, not guessed.
"""

import json
import math
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

erf = np.vectorize(math.erf)


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def main():
    model_dir = Path(sys.argv[1])
    config = json.loads((model_dir / "config.json").read_text())
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    modules = json.loads((model_dir / "modules.json").read_text())
    max_len = json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"]
    assert config["model_type"] == "bert" and config["hidden_act"] == "gelu"
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    normalize = any(m["type"].endswith(".Normalize") for m in modules)

    weights = {k: v.astype(np.float64) for k, v in load_file(model_dir / "model.safetensors").items()}
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_len)

    hidden = config["hidden_size"]
    heads = config["num_attention_heads"]
    head_dim = hidden // heads
    eps = config["layer_norm_eps"]

    def embed(text):
        ids = np.array(tokenizer.encode(text).ids)
        n = len(ids)
        w = weights
        h = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        h = layer_norm(h, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        for layer in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{layer}."

            def linear(x, name):
                return x @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            def split(x):
                return x.reshape(n, heads, head_dim).transpose(1, 0, 2)

            q = split(linear(h, "attention.self.query"))
            k = split(linear(h, "attention.self.key"))
            v = split(linear(h, "attention.self.value"))
            probs = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(head_dim))
            context = (probs @ v).transpose(1, 0, 2).reshape(n, hidden)
            attended = layer_norm(
                linear(context, "attention.output.dense") + h,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
                eps,
            )
            inner = gelu(linear(attended, "intermediate.dense"))
            h = layer_norm(
                linear(inner, "output.dense") + attended,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
                eps,
            )
        vector = h.mean(0)
        if normalize:
            vector = vector / max(np.linalg.norm(vector), 1e-12)
        return vector.tolist()

    texts = json.load(sys.stdin)
    json.dump([embed(t) for t in texts], sys.stdout)


if __name__ == "__main__":
    main()
