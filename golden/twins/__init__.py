"""The hardware's golden twins: one golden function per module (:mod:`.nsm`,
:mod:`.ssm`, :mod:`.wdm`, :mod:`.encoder`, :mod:`.pefu`), a sparse FC group from
them (:mod:`.fc`), the functional machine that runs programs with them
(:mod:`.machine`), whole-model inference (:mod:`.infer`), convolution and pooling
(:mod:`.conv`) and an LSTM cell step (:mod:`.lstm`)."""
