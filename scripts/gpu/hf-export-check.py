"""Does transformers load what `odpo export-hf` writes, as it is? (issue 19: from_pretrained on an export)

transformers cannot be installed on the development machine; the GPU machine's Python has it, so
measure.sh runs this there. For each tiny fixture directory it is given (exported by odpo from
packages/model/test/fixtures/llama/<name>, F32), it loads the export with
AutoModelForCausalLM.from_pretrained and AutoTokenizer.from_pretrained, runs the fixture's
sequences and compares the logits with the committed PyTorch reference (<name>.reference.json:
float64 on the same weights), printing one JSON object: per fixture the class transformers chose,
the largest |Δ logit| and whether it is within 1e-4.

Usage: python3 scripts/gpu/hf-export-check.py FIXTURES_DIR EXPORT_DIR…   (EXPORT_DIR named <name>-export)
"""
import json
import os
import sys

import torch
import transformers

fixtures, exports = sys.argv[1], sys.argv[2:]
report = {"transformers": transformers.__version__, "torch": torch.__version__, "exports": {}}
for export in exports:
    name = os.path.basename(export.rstrip("/")).removesuffix("-export")
    entry = report["exports"].setdefault(name, {})
    try:
        ref = json.load(open(os.path.join(fixtures, f"{name}.reference.json")))
        model = transformers.AutoModelForCausalLM.from_pretrained(export, torch_dtype=torch.float32)
        model.eval()
        tokenizer = transformers.AutoTokenizer.from_pretrained(export)
        entry["class"] = type(model).__name__
        entry["tokenizer"] = type(tokenizer).__name__
        worst = 0.0
        with torch.no_grad():
            for ids, want in zip(ref["sequences"], ref["logits"]):
                got = model(torch.tensor([ids])).logits[0].double()
                worst = max(worst, (got - torch.tensor(want, dtype=torch.float64)).abs().max().item())
        entry["max_abs_logit_diff"] = worst
        entry["ok"] = worst <= 1e-4
    except Exception as e:  # one fixture's failure is reported, the others still run
        entry["error"] = f"{type(e).__name__}: {e}"
        entry["ok"] = False
print(json.dumps(report, indent=2))
sys.exit(0 if report["exports"] and all(e["ok"] for e in report["exports"].values()) else 1)
