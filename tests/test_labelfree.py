"Fast checks of the label-free policy and the generated prefix-tree traces."
import semantic_kv.labelfree  # registers `adaptive_structural`
from semantic_kv.labelfree import AdaptiveStructural
from semantic_kv.workloads.prefix_tree import prefix_tree_trace
from semantic_kv.policies import POLICIES
from semantic_kv.sim import simulate


def test_registered():
    assert POLICIES['adaptive_structural'] is AdaptiveStructural


def test_generator_deterministic():
    a, b = prefix_tree_trace(300, seed=5), prefix_tree_trace(300, seed=5)
    assert [r.keys for r in a.requests] == [r.keys for r in b.requests]
    assert len(a) == 300


def test_beats_lru_with_invariants():
    tr = prefix_tree_trace(800, seed=11)
    cap = tr.unique_blocks() // 20
    lru = simulate(tr, 'lru', capacity_blocks=cap).summary.block_hit_rate
    s = simulate(tr, 'adaptive_structural', capacity_blocks=cap, check=True).summary
    opt = simulate(tr, 'belady', capacity_blocks=cap).summary.block_hit_rate
    assert lru < s.block_hit_rate <= opt


def test_labelled_and_no_bypass():
    tr = prefix_tree_trace(400, seed=2, labels=True)
    s = simulate(tr, AdaptiveStructural(bypass=False), capacity_blocks=tr.unique_blocks() // 20, check=True).summary
    assert s.rejected == 0


def test_no_future_access():
    "The policy must work when the simulator exposes no next-use information"
    tr = prefix_tree_trace(300, seed=4)
    pol = AdaptiveStructural()
    assert not pol.needs_future
    simulate(tr, pol, capacity_blocks=50)
