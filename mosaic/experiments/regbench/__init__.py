"""RegBench (Akyürek et al. 2024): in-context learning of random regular languages.

``automaton`` samples and minimises random automata, ``dataset`` builds reproducible pools and
batches, ``metrics`` scores predictions against the true next-symbol distribution, ``ngram``
gives the training-free in-context n-gram references; ``experiment`` and ``report`` run the
paper's Fig. 11 / Table 4 experiment. CLI: ``python -m mosaic regbench``.
"""
from mosaic.experiments.regbench.automaton import (
                        DELIM_ID,
                        PAD_ID,
                        VOCAB,
                        VOCAB_SIZE,
                        Automaton,
                        PFAParams,
                        decode,
                        encode,
                        from_edges,
                        minimize,
                        sample_automaton,
                        sample_raw_automaton,
                        sample_sequence,
)
from mosaic.experiments.regbench.dataset import (
                        DataConfig,
                        EpochBatcher,
                        IIDConfig,
                        RegBenchSplit,
                        generate_all,
                        generate_iid_split,
                        generate_split,
                        load_pools,
                        make_batch,
                        make_get_batch,
                        random_batch,
                        write_pools,
)
from mosaic.experiments.regbench.metrics import (
                        MetricAccumulator,
                        evaluate_model,
                        evaluate_probs,
                        score_model,
                        score_probs,
                        true_next_distributions,
)
from mosaic.experiments.regbench.ngram import ngram_probs, uniform_letter_probs

__all__ = [
    "DELIM_ID", "PAD_ID", "VOCAB", "VOCAB_SIZE", "Automaton", "PFAParams", "decode", "encode",
    "from_edges", "minimize", "sample_automaton", "sample_raw_automaton", "sample_sequence",
    "DataConfig", "EpochBatcher", "IIDConfig", "RegBenchSplit", "generate_all",
    "generate_iid_split", "generate_split", "load_pools",
    "make_batch", "make_get_batch", "random_batch", "write_pools", "MetricAccumulator",
    "evaluate_model", "evaluate_probs", "score_model", "score_probs", "true_next_distributions", "ngram_probs",
    "uniform_letter_probs",
]
