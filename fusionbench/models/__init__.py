"""Models: the multimodal ResNet encoder, the RefineNet decoder, the segmentor."""
from fusionbench.models.refinenet import RefineNetDecoder
from fusionbench.models.resnet import MultiModalResNet, UnsharedResNet
from fusionbench.models.segmentor import MultiModalDataPreprocessor, MultiModalSegmentor

__all__ = ['MultiModalResNet', 'UnsharedResNet', 'RefineNetDecoder', 'MultiModalSegmentor',
           'MultiModalDataPreprocessor']
