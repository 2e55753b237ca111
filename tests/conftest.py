"""Test ordering for the parallel run (``make test``: ``pytest -n auto
--maxschedchunk 1``, each worker takes the next test when it is free): the
longest tests go first, so that no worker is left alone with a two-minute test
at the end while the others idle.  (Without ``--maxschedchunk 1`` xdist hands
each worker a block of consecutive tests first, and one worker would get them
all.)  The names are the slowest of ``make test``'s ``--durations`` report,
longest first; the rest keep their order."""

LONGEST_FIRST = (
    "test_icebreaker_build_fails_loudly_when_it_does_not_fit",
    "test_proof_holds_and_broken_twins_fail",
    "test_board_over_uart_model",
    "test_bench_quick_report_is_consistent",
    "test_demo_small",
    "test_accelerator_on_verilator_equals_icarus",
    "test_model_equals_rtl_on_random_configurations",
    "test_synth_blocks_of_whole_accelerator",
    "test_verilog_matches_golden",
    "test_module_on_verilator",
    "test_slice_matches_golden_and_dense",
    "test_rtl_step_bit_exact_in_amaranth_simulation",
    "test_multi_issue_happens",
)


def pytest_collection_modifyitems(config, items):
    rank = {name: k for k, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.originalname, len(rank)))
