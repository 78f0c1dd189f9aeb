"""The field's policies, tail admission and the Bailian family through the `bench-policies` command: they run, and
bad choices are refused with a clear message (exit 2). The policies' equivalence with the reference loop and the
online core is in tests/test_fastsim.py and tests/test_cache_core.py."""
from semantic_kv.cli import main


def test_bench_field_policies_on_bailian(tmp_path, capsys):
    rc = main(['bench-policies', '--quick', '--families', 'bailian_256', '--policies', 'lru+admit,tail_lru,session_aware,workload_aware,learned',
               '--no-libcachesim', '--executor', 'serial', '--out', str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    for p in ('lru+admit', 'tail_lru', 'session_aware', 'workload_aware', 'learned', 'belady'): assert p in out, p
    assert 'bailian_256' in (tmp_path / 'results.csv').read_text()


def test_bench_field_bad_input(capsys):
    assert main(['bench-policies', '--policies', 'arc+admit']) == 2
    assert 'chooses its own victims' in capsys.readouterr().err
    assert main(['bench-policies', '--policies', 'nope+admit']) == 2
    assert "unknown policy 'nope+admit'" in capsys.readouterr().err
    assert main(['bench-policies', '--families', 'bailian_100']) == 2
    assert "unknown family 'bailian_100'" in capsys.readouterr().err
