"""Record what the official extractors return on the parity corpus.

    VT_AGENT_OFFICIAL_SRC=/path/to/official python tests/oracles/record_official.py

writes ``tests/data/eval_outputs/official_expected.json``: for every corpus line, the Video-Holmes
ladder's letter, VRBench ``extract_mcq_answer``, CG-Bench ``post_process`` (1/0/None against the
line's ``key``) and LVBench ``polish_answer``, plus the source commits and the corpus hash.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oracles.official import ENV, SOURCES, Official, source_dir

DATA = Path(__file__).resolve().parents[1] / "data" / "eval_outputs"


def main() -> int:
    directory = source_dir()
    if directory is None:
        print(f"set {ENV} to a directory holding {', '.join(SOURCES)} (see tests/oracles/README.md)")
        return 2
    official = Official(directory)
    corpus_bytes = (DATA / "corpus.jsonl").read_bytes()
    results: dict[str, dict[str, object]] = {}
    for line in corpus_bytes.decode("utf-8").splitlines():
        case = json.loads(line)
        text = case["text"]
        results[case["id"]] = {
            "video-holmes": official.holmes(text),
            "vrbench": official.vrbench(text),
            "cg-bench": official.cg_bench(text, case["key"]),
            "lvbench": official.lvbench(text),
        }
    out = {
        "sources": {
            name: {
                "repository": repo,
                "path": path,
                "commit": commit,
                "url": f"https://github.com/{repo}/blob/{commit}/{path}",
            }
            for name, (repo, path, commit) in SOURCES.items()
        },
        "corpus_sha256": hashlib.sha256(corpus_bytes).hexdigest(),
        "results": results,
    }
    (DATA / "official_expected.json").write_text(
        json.dumps(out, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"recorded {len(results)} cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
