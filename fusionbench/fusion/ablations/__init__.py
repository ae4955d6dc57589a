"""The paper's additional ablations (Wang et al., NeurIPS 2020, §4.1) as registered fusion
methods, one file per method; each card opts in to the ``ablations`` table only.

- :mod:`~fusionbench.fusion.ablations.fixed_exchange` -- a fixed 30 % of channels exchanged,
  no ℓ1 / threshold, at every 3×3 conv or once per down-sampling stage (``'fixed_exchange'``)
- :mod:`~fusionbench.fusion.ablations.conditional_bn` -- depth's BN conditioned on RGB, shared or
  unshared convolutions (``'cbn'``)
- :mod:`~fusionbench.fusion.ablations.summation` -- summing instead of replacing, plain or with a
  learnt soft gate (``'sum_exchange'``)
- :mod:`~fusionbench.fusion.ablations.random_exchange` -- random channel exchange
  (``'random_exchange'``)
- :mod:`~fusionbench.fusion.ablations.discard` -- unimportant channels zeroed, no exchange
  (``'discard_channels'``)

The concat-fusion block in place of the ensemble of experts is a segmentor, not a fusion
point: :mod:`fusionbench.models.concat_ensemble`.
"""
from fusionbench.fusion.ablations.conditional_bn import ConditionalBN
from fusionbench.fusion.ablations.discard import DiscardChannels
from fusionbench.fusion.ablations.fixed_exchange import FixedExchange
from fusionbench.fusion.ablations.random_exchange import RandomExchange
from fusionbench.fusion.ablations.summation import SumExchange

__all__ = ['ConditionalBN', 'DiscardChannels', 'FixedExchange', 'RandomExchange', 'SumExchange']
