"""Models: the multimodal ResNet encoder, the RefineNet decoder, the segmentor."""
from fusionbench.models.concat_ensemble import ConcatEnsembleSegmentor
from fusionbench.models.psp import DilatedMultiModalResNet, MultiModalPSPHead
from fusionbench.models.refinenet import RefineNetDecoder
from fusionbench.models.resnet import MultiModalResNet, UnsharedResNet
from fusionbench.models.segmentor import MultiModalDataPreprocessor, MultiModalSegmentor
from fusionbench.models.separate_streams import SeparateStreamsResNet, SeparateStreamsSegmentor

__all__ = ['MultiModalResNet', 'UnsharedResNet', 'RefineNetDecoder', 'MultiModalSegmentor',
           'MultiModalDataPreprocessor', 'SeparateStreamsResNet',
           'SeparateStreamsSegmentor', 'DilatedMultiModalResNet', 'MultiModalPSPHead',
           'ConcatEnsembleSegmentor']
