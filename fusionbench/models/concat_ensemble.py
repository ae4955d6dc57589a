"""CEN with a concat-fusion block in place of the ensemble of experts (§4.1, ablation 4).

The paper: "If we replace the ensemble of expert with a concat-fusion block, the result will
slightly reduce from 51.1 to 50.8" (Wang et al., NeurIPS 2020, §4.1).

The ensemble of experts (:class:`~fusionbench.models.segmentor.MultiModalSegmentor`) combines
the modalities' detached logits with learnt weights ``softmax(α)``. This segmentor keeps
everything else and computes the ``ensemble`` head with a concat-fusion block instead, in the
style of the concat baseline (:mod:`fusionbench.baselines.concat`)::

    ensemble = W · [sg(logits_1); …; sg(logits_M)] + b      [N, M·K, h, w] -> [N, K, h, w]

- ``W``: one ``1×1`` convolution ``M·K -> K`` with bias; no BN and no ReLU, because its output
  is logits (our choice).
- Its inputs are detached (``sg``), as the ensemble's, so the block learns only through the
  ensemble's loss and does not pull on the sub-networks (the only change is the fusion block).
- Initialisation: ``W`` starts as the ensemble's start, the mean of the modalities' logits
  (``W[k, m·K + k] = 1/M``, zeros elsewhere, ``b = 0``), so the two rows start from the same
  predictions (our choice).

Used as a cell override on CEN's config: ``model.type = 'ConcatEnsembleSegmentor'``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from fusionbench import registry
from fusionbench.modal import split_modalities
from fusionbench.models.segmentor import ENSEMBLE, MultiModalSegmentor

#: The ``ablations`` row's override on CEN's config.
CONCAT_ENSEMBLE = {'model.type': 'ConcatEnsembleSegmentor'}


@registry.MODELS.register_module()
class ConcatEnsembleSegmentor(MultiModalSegmentor):
    """:class:`MultiModalSegmentor` whose ``ensemble`` head is a concat-fusion block (module
    docstring); same arguments. Needs ``M >= 2`` and ``ensemble=True`` (raises ``ValueError``).

    Shapes: the decoder's logits ``[M*N, K, h, w]`` -> ``{modality: [N, K, h, w], 'ensemble':
    [N, K, h, w]}``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.use_ensemble:
            raise ValueError('ConcatEnsembleSegmentor replaces the ensemble head and needs at '
                             'least 2 modalities with ensemble=True')
        del self.alpha
        m, k = len(self.modalities), self.num_classes
        self.concat_fusion = nn.Conv2d(m * k, k, 1)
        self.reset_concat_fusion()

    def reset_concat_fusion(self) -> None:
        """``W`` = the mean of the modalities' logits, ``b = 0`` (module docstring)."""
        m, k = len(self.modalities), self.num_classes
        with torch.no_grad():
            weight = torch.zeros(k, m * k)
            for index in range(m):
                weight[:, index * k:(index + 1) * k] = torch.eye(k) / m
            self.concat_fusion.weight.copy_(weight[:, :, None, None])
            self.concat_fusion.bias.zero_()

    def init_weights(self) -> None:
        super().init_weights()
        self.reset_concat_fusion()  # the seeded default init of every module ran first

    def head_logits(self, inputs: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """``[M*N, C, H, W]`` -> (``{head: [N, K, h, w]}``, fusion loss terms)."""
        features, fusion_losses = self.backbone(inputs)
        logits = split_modalities(self.decode_head(features), len(self.modalities))
        out = dict(zip(self.modalities, logits.unbind(0)))
        stacked = logits.detach().transpose(0, 1).flatten(1, 2)  # [N, M*K, h, w]
        out[ENSEMBLE] = self.concat_fusion(stacked)
        return out, fusion_losses
