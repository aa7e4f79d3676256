#!/usr/bin/env python3
"""Cross-checks Kestrel against Hugging Face transformers and PEFT, where both are installed (the GPU machine has
them; this one does not). Run from the repository root after `scripts/pack-gpu` (which writes target/gpu-pack/peft:
a LoRA adapter Kestrel trained on the falcon-h1-g1 fixture and Kestrel's logits with and without it).

1. transformers' FalconH1/FalconMamba on each fixture's Hugging Face folder against llama.cpp's logits (expected.json).
2. Kestrel's adapter loaded by `PeftModel.from_pretrained`: PEFT's logits against Kestrel's.
3. A PEFT adapter made by PEFT (random, B non-zero), applied by Kestrel (`logits --adapter`, through the packed JDK):
   Kestrel's logits against PEFT's.
Prints one line per check with the largest absolute difference; exits 1 when one is over its tolerance.
"""
import base64, json, os, subprocess, sys, tempfile
import numpy as np
import torch

ROOT = os.getcwd()
FIX = os.path.join(ROOT, "testdata", "fixtures")
PACK = os.path.join(ROOT, "target", "gpu-pack")
failed = []


def check(what, got, want, tol):
    d = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - np.asarray(want, dtype=np.float64))))
    ok = d <= tol
    print(f"{'ok  ' if ok else 'FAIL'} {what}: max |diff| {d:.3g} (tolerance {tol:g})", flush=True)
    if not ok:
        failed.append(what)


def hf_logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].float().numpy()


def kestrel_logits(model_dir, adapter, ids):
    java = os.path.join(PACK, "jdk", "bin", "java")
    if not os.path.exists(java):
        subprocess.run(["tar", "-C", PACK, "-xzf", os.path.join(PACK, "jdk.tar.gz")], check=True)
    cp = ":".join(os.path.join(PACK, "lib", f) for f in sorted(os.listdir(os.path.join(PACK, "lib"))))
    cmd = [java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-cp", cp, "ai.kestrel.train.cli.Main", "logits",
           "--model", model_dir, "--tokens", ",".join(map(str, ids))]
    if adapter:
        cmd += ["--adapter", adapter]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return np.array(json.loads(out)["logits"], dtype=np.float32)


from transformers import AutoModelForCausalLM


def load(d, **kw):
    try:
        return AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32, **kw).eval()
    except TypeError:  # transformers before 4.56 names it torch_dtype
        return AutoModelForCausalLM.from_pretrained(d, torch_dtype=torch.float32, **kw).eval()


for name in ["falcon-h1-g1", "falcon-h1-g2", "falcon-mamba"]:
    d = os.path.join(FIX, name)
    exp = json.load(open(os.path.join(d, "expected.json")))
    kw = {"mixer_rms_eps": 1e-5} if name == "falcon-mamba" else {}  # llama.cpp's epsilon (fixtures README)
    model = load(d, **kw)
    for p in exp["variants"]["f32"]["prompts"]:
        want = np.frombuffer(base64.b64decode(p["logits_f32le_b64"]), dtype="<f4").reshape(len(p["input_ids"]), -1)
        got = hf_logits(model, p["input_ids"])[:, : want.shape[1]]
        check(f"transformers {name} {p['name']} vs llama.cpp", got, want, 1e-3)

peft_dir = os.path.join(PACK, "peft")
if os.path.isdir(peft_dir):
    from peft import LoraConfig, PeftModel, get_peft_model

    base_dir = os.path.join(FIX, "falcon-h1-g1")
    meta = json.load(open(os.path.join(peft_dir, "kestrel-logits.json")))
    ids = meta["ids"]
    base = load(base_dir)
    check("transformers falcon-h1-g1 vs Kestrel, no adapter", hf_logits(base, ids), meta["base"], 1e-3)
    peft = PeftModel.from_pretrained(base, os.path.join(peft_dir, "adapter")).eval()
    check("PeftModel.from_pretrained(Kestrel's adapter) vs Kestrel", hf_logits(peft, ids), meta["adapted"], 1e-3)
    # the other way: an adapter PEFT writes, applied by Kestrel
    base = load(base_dir)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                         "down_proj", "in_proj"], lora_dropout=0.0)
    pm = get_peft_model(base, cfg)
    torch.manual_seed(0)
    with torch.no_grad():
        for n, t in pm.named_parameters():
            if "lora_B" in n:
                t.normal_(0, 0.05)
    pm.eval()
    with tempfile.TemporaryDirectory() as tmp:
        pm.save_pretrained(tmp)
        check("Kestrel --adapter (PEFT's adapter) vs PEFT", kestrel_logits(base_dir, tmp, ids), hf_logits(pm, ids), 1e-3)
else:
    print("no target/gpu-pack/peft: run scripts/pack-gpu first for the PEFT checks")

sys.exit(1 if failed else 0)
