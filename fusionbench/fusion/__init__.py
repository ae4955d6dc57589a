"""Fusion methods: the interface and the paper's channel exchanging (the baselines are in
:mod:`fusionbench.baselines`)."""
from fusionbench.fusion.base import (FusionCard, FusionModule, FusionPoint, NoFusion,
                                     build_fusion, check_fusion_interface, fusion_class)
from fusionbench.fusion.cen import ChannelExchange
from fusionbench.fusion import ablations  # noqa: F401  (registers the §4.1 variants)

__all__ = ['FusionCard', 'FusionModule', 'FusionPoint', 'NoFusion', 'ChannelExchange',
           'build_fusion', 'check_fusion_interface', 'fusion_class']
