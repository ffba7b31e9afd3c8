"""Rewrite logscan/builtin_pack.json, the compiled built-in rule pack shipped with logscan, from
rules/ and the current compiler. Run from anywhere: python tests/regenerate_builtin_pack.py"""

from logscan import rulecache, rules


def regenerate() -> None:
    builtin_dir = rules.builtin_rules_dir()
    files = rules.rule_files(builtin_dir)
    pack = rules.compile_files([(path, True) for path in files])
    rulecache.write_shipped(builtin_dir, files, pack)
    print(f"rewrote {rulecache.SHIPPED_PACK} from {len(files)} rule files ({len(pack.rules)} rules)")


if __name__ == "__main__":
    regenerate()
