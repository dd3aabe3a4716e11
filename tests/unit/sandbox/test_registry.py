"""Language definitions load, and lookups by id, key and name agree."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from sandbox import LanguageDefinitionError, registry
from sandbox.registry import LANGUAGE_NAMESPACE, load_definition

EXPECTED = {"bash", "c", "cpp", "go", "java", "javascript", "php", "python", "ruby", "rust",
            "typescript"}  # fmt: skip


def test_all_languages_are_defined() -> None:
    assert set(registry().keys()) == EXPECTED


def test_ids_are_stable_uuid5_of_the_key() -> None:
    python = registry().get("python")
    assert python is not None
    assert python.id == uuid.uuid5(LANGUAGE_NAMESPACE, "python")
    assert python.id.version == 5
    assert len({lang.id for lang in registry()}) == len(EXPECTED)


@pytest.mark.parametrize("ref", ["python", "Python 3", "PYTHON 3", " python "])
def test_lookup_by_key_or_name_is_case_insensitive(ref: str) -> None:
    found = registry().get(ref)
    assert found is not None and found.key == "python"


def test_lookup_by_id_and_unknown() -> None:
    go = registry().get("go")
    assert go is not None
    assert registry().get(str(go.id)) is go and registry().get(go.id) is go
    assert registry().get("brainfuck") is None
    assert registry().get(str(uuid.uuid4())) is None


def test_definitions_are_complete() -> None:
    for lang in registry():
        assert lang.run and lang.file_name and lang.template_code.strip()
        assert lang.version_command and lang.version_regex
        assert lang.default_time_limit_ms >= 100 and lang.default_memory_mb >= 32
    java = registry().get("java")
    assert java is not None
    # The heap starts at what was asked for and may grow past the cgroup's limit (see java.toml).
    assert {"-Xms100m", "-Xmx520m"} <= set(java.command(java.run, 100, 260))


def test_every_interpreted_language_has_a_syntax_check() -> None:
    # Their only source of E001 (a compiled language's is its compiler).
    assert [lang.key for lang in registry() if not lang.compile and not lang.check] == []
    for lang in registry():
        assert lang.check is None or lang.file_name in lang.command(lang.check, 64)


def test_a_broken_definition_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "x.toml"
    broken.write_text('key = "x"\nname = [\n')
    with pytest.raises(LanguageDefinitionError, match=r"x\.toml"):
        load_definition(broken)


def test_a_warm_program_cannot_name_the_sources(tmp_path: Path) -> None:
    # It starts before the program exists; only the hand-over says what to compile.
    definition = tmp_path / "x.toml"
    definition.write_text(
        'key = "x"\nname = "X"\nruntime = "X"\nfile_name = "Main.x"\n'
        'run = ["/usr/bin/x", "{sources}"]\nversion_command = ["/usr/bin/x"]\n'
        'version_regex = "(.*)"\nwarm_run = ["/usr/bin/x", "{sources}"]\n'
    )
    with pytest.raises(LanguageDefinitionError, match=r"x\.toml: warm_run .*\{sources\}"):
        load_definition(definition)


def test_typescripts_warm_compile_carries_the_compile_command() -> None:
    typescript = registry().get("typescript")
    assert typescript is not None and typescript.warm_compile is not None
    # It checks the hand-over against the compile command it carries: they must not drift apart.
    assert typescript.warm_compile[5:] == typescript.compile
